// CoreDNS with only the plugins the local node's cluster DNS uses, so that its
// build pulls no cloud SDKs. CoreDNS chooses its plugins at compile time (each
// registers itself on import); the harness writes the Corefile.
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
