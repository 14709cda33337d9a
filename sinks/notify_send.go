package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// send delivers a route's queue in order until the sink is closed.
func (n *Notify) send(r *notifyRoute) {
	defer n.wg.Done()
	for {
		it, ok := r.queue.head(n.ctx)
		if !ok {
			return
		}
		n.deliver(r, it)
		if n.ctx.Err() != nil {
			return
		}
	}
}

// deliver sends one notification until the receiver takes it or rejects it, or the sink is closed.
func (n *Notify) deliver(r *notifyRoute, it *queued) {
	log := n.log.With("route", r.cfg.Name)
	note, err := r.queue.load(it)
	if err != nil {
		log.Error("notify: unreadable notification given up", "err", err)
		r.stats.Rejected.Add(1)
		n.remove(r, it)
		return
	}
	if !it.sending {
		if err := r.queue.markSending(it); err != nil {
			log.Error("notify: cannot mark a notification as being sent; after a crash its duplicate is not marked", "err", err)
		}
	}
	maybeSent := it.earlier
	for attempt := 0; ; attempt++ {
		body, terr := r.render.render(note, maybeSent)
		if terr != nil && attempt == 0 {
			log.Warn("notify: template failed on an alert; the default text is used", "alert_id", note.Fields.ID, "err", terr)
		}
		wait, err := n.post(r, body, note.Fields.ID, maybeSent)
		var status *webhookStatus
		switch {
		case err == nil:
			r.stats.Sent.Add(1)
			if maybeSent {
				r.stats.Duplicates.Add(1)
			}
			n.remove(r, it)
			return
		case errors.As(err, &status) && status.permanent:
			log.Error("notify: the webhook rejected a notification; it is given up", "alert_id", note.Fields.ID, "err", err)
			r.stats.Rejected.Add(1)
			n.remove(r, it)
			return
		}
		r.stats.FailedAttempts.Add(1)
		maybeSent = maybeSent || mayHaveArrived(err)
		wait = max(wait, backoff(r.cfg.RetryInitialBackoff, r.cfg.RetryMaxBackoff, attempt))
		log.Warn("notify: webhook failed; retrying", "alert_id", note.Fields.ID, "attempt", attempt+1, "err", err, "retry_in", wait)
		if !sleepCtx(n.ctx, wait) {
			return
		}
	}
}

func (n *Notify) remove(r *notifyRoute, it *queued) {
	if err := r.queue.done(it); err != nil {
		n.log.Error("notify: remove a sent notification; it is sent again after a restart", "route", r.cfg.Name, "err", err)
	}
}

// webhookStatus is a response other than 2xx. A permanent one says the message itself is wrong (400, 413, 422):
// sending it again cannot succeed.
type webhookStatus struct {
	status    int
	permanent bool
}

func (e *webhookStatus) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

// post sends one request. It returns how long the receiver asked to wait (a 429's Retry-After, capped at the
// route's maximum backoff), and an error that never contains the URL.
func (n *Notify) post(r *notifyRoute, body []byte, id string, maybeSent bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(n.ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("cannot build the request (the URL is a secret and not shown)")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-notify")
	req.Header.Set("X-Vigil-Alert-Id", id)
	if maybeSent {
		req.Header.Set("X-Vigil-Possible-Duplicate", "true")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the url.Error's message holds the URL, a secret
		}
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return 0, nil
	case s == http.StatusTooManyRequests:
		return min(retryAfter(resp.Header.Get("Retry-After")), r.cfg.RetryMaxBackoff), &webhookStatus{status: s}
	default:
		permanent := s == http.StatusBadRequest || s == http.StatusRequestEntityTooLarge || s == http.StatusUnprocessableEntity
		return 0, &webhookStatus{status: s, permanent: permanent}
	}
}

// retryAfter reads a Retry-After header given in seconds; 0 when absent or a date.
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(h)
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// mayHaveArrived says whether a failed request may still have reached the receiver: any transport failure but one
// to connect. An HTTP error status means the receiver did not take it.
func mayHaveArrived(err error) bool {
	var status *webhookStatus
	var op *net.OpError
	return !errors.As(err, &status) && !(errors.As(err, &op) && op.Op == "dial")
}
