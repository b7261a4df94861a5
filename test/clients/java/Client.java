// The Java client of the client matrix (test/clients/matrix.test.ts): java.net.http.HttpClient
// built with the default proxy selector, which reads only system properties (http(s).proxyHost,
// http.nonProxyHosts); trust comes from javax.net.ssl.trustStore. All of them arrive through
// JAVA_TOOL_OPTIONS. Run with the source launcher: java Client.java ALLOWED_URL DENIED_URL.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class Client {
  static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) {
    // No .proxy(...): a client built without one uses ProxySelector.getDefault(), which reads the
    // http(s).proxyHost / http.nonProxyHosts system properties.
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(20)).build();
    String[] calls = {"allowed", "denied"};
    for (int i = 0; i < 2; i++) {
      String shown;
      try {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(args[i])).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
        shown = r.statusCode() + "\n" + r.body();
      } catch (Exception e) {
        shown = e.toString();
      }
      System.out.println("{\"call\":\"" + calls[i] + "\",\"shown\":" + json(shown) + "}");
    }
  }
}
