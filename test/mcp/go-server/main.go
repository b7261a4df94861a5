// A minimal MCP server built with the official Go SDK, for toolgate's tests: two tools, get_x
// and delete_x, each printing "ran <name> <arguments>" on stdout when it executes, so a test can
// see exactly what the server ran. Built twice by scripts/prepare-go-mcp.js: with go.mod (the
// current SDK) and with vulnerable.mod (v1.2.0, before the case-insensitive JSON fix for
// CVE-2026-27896), to show that folded keys reach a vulnerable server unless toolgate refuses them.
//
// Usage: go-mcp-server  (listens on 127.0.0.1, prints "listening <port>" first)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type args struct {
	Repo string `json:"repo,omitempty"`
}

var mu sync.Mutex

func report(name string, a args) {
	b, _ := json.Marshal(a)
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("ran %s %s\n", name, b)
}

func tool(name string) func(context.Context, *mcp.CallToolRequest, args) (*mcp.CallToolResult, any, error) {
	return func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		report(name, a)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + name}}}, nil, nil
	}
}

func main() {
	server := mcp.NewServer(&mcp.Implementation{Name: "go-test-server", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "get_x", Description: "reads x"}, tool("get_x"))
	mcp.AddTool(server, &mcp.Tool{Name: "delete_x", Description: "deletes x"}, tool("delete_x"))
	// Stateless: every POST stands alone (no initialize needed), which keeps attack tests short.
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	mux := http.NewServeMux()
	mux.Handle("/mcp", handler)
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
