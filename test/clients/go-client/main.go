// The Go client of the client matrix (test/clients/matrix.test.ts): net/http's default client,
// which reads HTTPS_PROXY/NO_PROXY (ProxyFromEnvironment) and SSL_CERT_FILE on its own.
// Usage: go-http-client ALLOWED_URL DENIED_URL; prints one JSON line per call.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	client := &http.Client{Timeout: 20 * time.Second}
	for i, call := range []string{"allowed", "denied"} {
		shown := ""
		resp, err := client.Get(os.Args[1+i])
		if err != nil {
			shown = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			shown = fmt.Sprintf("%s\n%s", resp.Status, body)
		}
		line, _ := json.Marshal(map[string]string{"call": call, "shown": shown})
		fmt.Println(string(line))
	}
}
