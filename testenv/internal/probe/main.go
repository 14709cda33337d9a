// Command probe is testenv/run's readiness check: one quick probe per invocation, exit status 0 when the server is
// ready, 1 (with the reason on stderr) when it is not yet.
//
//	probe kafka HOST:PORT [USER]   Kafka answers a metadata request listing at least one broker (with USER: after
//	                               SASL/PLAIN authentication with the password in $PROBE_KAFKA_PASSWORD; without:
//	                               and finds a consumer group coordinator)
//	probe search URL                        GET URL/_cluster/health answers 200 with status yellow or green
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
)

const timeout = 3 * time.Second

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	args := os.Args[1:]
	switch {
	case len(args) == 2 && args[0] == "kafka":
		err = probeKafka(ctx, args[1], "", "")
	case len(args) == 3 && args[0] == "kafka":
		err = probeKafka(ctx, args[1], args[2], os.Getenv("PROBE_KAFKA_PASSWORD"))
	case len(args) == 2 && args[0] == "search":
		err = probeSearch(ctx, args[1])
	default:
		fmt.Fprintln(os.Stderr, "usage: probe kafka HOST:PORT [USER] | probe search URL")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func probeKafka(ctx context.Context, addr, user, password string) error {
	d := &kafka.Dialer{Timeout: timeout}
	if user != "" {
		d.SASLMechanism = plain.Mechanism{Username: user, Password: password}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	brokers, err := conn.Brokers()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(brokers) == 0 {
		return errors.New("metadata lists no broker")
	}
	if user != "" {
		return nil
	}
	// Consumer groups work only once the broker has created __consumer_offsets, which the first FindCoordinator
	// request triggers; until then kafka-go's Reader backs off 5 s (JoinGroupBackoff) on "Group Coordinator Not
	// Available". Make that part of being ready.
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: timeout}
	res, err := client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{
		Key:     "vigil-testenv-probe",
		KeyType: kafka.CoordinatorKeyTypeConsumer,
	})
	if err != nil {
		return fmt.Errorf("find group coordinator: %w", err)
	}
	if res.Error != nil {
		return fmt.Errorf("find group coordinator: %w", res.Error)
	}
	return nil
}

func probeSearch(ctx context.Context, url string) error {
	url = strings.TrimRight(url, "/") + "/_cluster/health?wait_for_status=yellow&timeout=2s"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", res.StatusCode, body)
	}
	var health struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return fmt.Errorf("decode %s: %w", body, err)
	}
	if health.Status != "yellow" && health.Status != "green" {
		return fmt.Errorf("cluster status %q", health.Status)
	}
	return nil
}
