// Command pause is the test cluster's pod sandbox process: it holds the pod's
// namespaces open and exits on SIGINT or SIGTERM, like the upstream pause image,
// which cannot be pulled here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
