package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"
)

// ErrTopicMissing is returned by Check when a topic does not exist.
var ErrTopicMissing = errors.New("topics do not exist")

// Check connects to the cluster within ConnectTimeout, authenticates, and verifies that every topic exists. It runs
// at start-up so that a wrong address, password or topic name fails at once with a clear error, instead of in a
// background retry loop.
func (c *Config) Check(ctx context.Context, topics ...string) error {
	tr, err := c.Transport()
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, c.WithDefaults().ConnectTimeout)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", c.WithDefaults().ConnectTimeout, err)
		}
		return fmt.Errorf("connect to %s: %w", strings.Join(c.Brokers, ","), c.Explain(err))
	}
	var missing []string
	var errs []error
	for _, t := range md.Topics {
		switch {
		case t.Error == nil:
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			missing = append(missing, t.Name)
		default:
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Name, t.Error))
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrTopicMissing, strings.Join(missing, ", ")))
	}
	return errors.Join(errs...)
}

// Explain adds what the user can do about the errors that come from configuration (credentials, ACLs, a listener
// that does not speak SASL); other errors are returned unchanged.
func (c *Config) Explain(err error) error {
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("SASL authentication failed for user %q with mechanism %s: check the username and password: %w",
			c.SASL.Username, strings.ToUpper(c.SASL.Mechanism), err)
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("the broker does not accept SASL mechanism %s: %w", strings.ToUpper(c.SASL.Mechanism), err)
	case errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("SASL handshake failed (is this a SASL listener?): %w", err)
	case errors.Is(err, kafka.TopicAuthorizationFailed), errors.Is(err, kafka.GroupAuthorizationFailed),
		errors.Is(err, kafka.ClusterAuthorizationFailed):
		return fmt.Errorf("not authorized (check the ACLs of user %q): %w", c.SASL.Username, err)
	}
	return err
}
