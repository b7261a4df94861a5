// Command opa is the upstream OPA CLI, built from the Go module proxy at the version pinned in
// go.mod. `go install github.com/open-policy-agent/opa@version` is refused because OPA's own
// go.mod carries a replace directive, so this tiny module requires it and runs its root command.
package main

import (
	"errors"
	"os"

	"github.com/open-policy-agent/opa/cmd"
)

func main() {
	if err := cmd.RootCommand.Execute(); err != nil {
		var exitErr *cmd.ExitError
		if errors.As(err, &exitErr) {
			os.Exit(exitErr.Exit)
		}
		os.Exit(1)
	}
}
