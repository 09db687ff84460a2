// Command etcd runs a single-member etcd server through go.etcd.io/etcd/server/v3/embed.
// It is the storage of the local control plane: the same server code as the etcd
// release binary, started with only the flags the harness needs.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func mustURL(raw, flagName string) url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		log.Fatalf("invalid --%s %q: %v", flagName, raw, err)
	}
	return *u
}

func main() {
	dataDir := flag.String("data-dir", "", "directory for etcd data (required)")
	clientURL := flag.String("listen-client-url", "http://127.0.0.1:2379", "URL to serve clients on")
	peerURL := flag.String("listen-peer-url", "http://127.0.0.1:2380", "URL to serve peers on")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	quotaBytes := flag.Int64("quota-backend-bytes", 2<<30, "backend size quota in bytes")
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("--data-dir is required")
	}

	cfg := embed.NewConfig()
	cfg.Name = "tds-local"
	cfg.Dir = *dataDir
	cfg.LogLevel = *logLevel
	cfg.QuotaBackendBytes = *quotaBytes
	client := mustURL(*clientURL, "listen-client-url")
	peer := mustURL(*peerURL, "listen-peer-url")
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Tests force watch 410s by compacting; keep automatic compaction off so
	// that only deliberate compactions happen.
	cfg.AutoCompactionRetention = "0"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("cannot start etcd: %v", err)
	}
	defer e.Close()

	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("etcd ready")
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		log.Fatal("etcd did not become ready within 60s")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Printf("etcd stopping on %s", s)
	case err := <-e.Err():
		log.Fatalf("etcd failed: %v", err)
	}
}
