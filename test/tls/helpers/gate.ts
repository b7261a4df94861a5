// Starts a real toolgate as `toolgate run` would: startToolgate builds TLS interception (per-pod
// CA, published where the config says), the credential services and, when the config enables
// them, the transparent listeners. Records and logs are kept in memory for assertions. A thin
// name over the one gateway starter (test/helpers/toolgate.ts), kept for the TLS tests.
import { startTestToolgate, type TestToolgate } from '../../helpers/toolgate.ts'

export type InterceptingGate = TestToolgate

export async function startInterceptingGate(yaml: (dir: string) => string): Promise<InterceptingGate> {
  const gate = await startTestToolgate(yaml)
  return { ...gate, close: () => gate.tg.close(300) }
}
