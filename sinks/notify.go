package sinks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vigilsoc/vigil"
)

// Notify tells people about alerts through webhooks: Vigil's own JSON, Slack or Microsoft Teams
// (docs/notifications.md). Each route has a URL, a message shape, a minimum severity, optionally a list of tenants,
// and a message template; an alert goes to every route that accepts its severity and tenant.
//
// A slow or broken webhook never holds up detection or indexing. Write does no network I/O: it puts each
// notification into its route's durable queue (a file per notification in the route's folder, synced, before Write
// returns) and returns; one sender goroutine per route delivers the queue in order, retrying every failure but a
// rejection of the message itself (400, 413, 422) with exponential backoff and no limit. A notification Write has
// accepted is never lost: after a crash or a stop, the queues are sent on the next start. One that may have reached
// the receiver before (an attempt had started, or an attempt timed out) is sent again marked as a possible
// duplicate, in the X-Vigil-Possible-Duplicate header and the message; every request carries the alert id in
// X-Vigil-Alert-Id, so a receiver can drop duplicates.
//
// Each queue is bounded (NotifyConfig.MaxQueued). When a route's queue is full, or its disk fails, a new
// notification for that route is dropped, logged at error level and counted; Write still succeeds, so the batch is
// acknowledged and the alert indexed: notifications are the lesser duty, and blocking the pipeline for them would
// stop detection. The notifications already queued are kept.
//
// An alert notifies once, not once per version: the ids of notified alerts are remembered (on disk, for
// NotifyConfig.NotifiedTTL), and a later version of an Update alert, or a replay of an alert after a crash, is
// skipped and counted. Internal alerts never notify.
type Notify struct {
	cfg    NotifyConfig
	log    *slog.Logger
	client *http.Client
	now    func() time.Time
	routes []*notifyRoute

	mu     sync.Mutex // serializes Write and guards seen
	seen   *notifiedIDs
	closed bool

	ctx    context.Context // cancelled by Close: stops the senders and their requests
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// notifyRoute is one configured route and its queue.
type notifyRoute struct {
	cfg     NotifyRoute
	level   int             // the lowest severity level sent, 1-4
	tenants map[string]bool // nil: every tenant
	render  *renderer
	queue   *routeQueue
	stats   NotifyRouteStats
	warn    every // rate-limits the logs of dropped notifications
}

// NotifyOptions are the notify sink's collaborators; every field may be left zero.
type NotifyOptions struct {
	// Logger receives the sink's logs; nil discards them. No log line contains a webhook URL.
	Logger *slog.Logger
	// Client sends the webhook requests; nil means a client of its own. Each request's timeout is its route's.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrNotifyClosed is returned by Write after Close.
var ErrNotifyClosed = errors.New("notify: sink closed")

// NewNotify opens (or creates) the queues in cfg.Dir and starts a sender per route, which first sends what an
// earlier run left queued.
func NewNotify(cfg NotifyConfig, opts NotifyOptions) (*Notify, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Notify{cfg: cfg, log: opts.Logger, client: opts.Client, now: opts.Now}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.client == nil {
		n.client = &http.Client{}
	}
	if n.now == nil {
		n.now = time.Now
	}
	if err := n.open(); err != nil {
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, r := range n.routes {
		n.wg.Add(1)
		go n.send(r)
	}
	return n, nil
}

// open opens every route's queue and the notified ids; the ids of queued notifications count as notified, in case
// a crash came between queueing them and recording their ids.
func (n *Notify) open() error {
	var queued []string
	for _, rc := range n.cfg.Routes {
		r := &notifyRoute{cfg: rc, level: slices.Index(notifySeverities, rc.MinSeverity) + 1}
		r.warn.interval = time.Minute
		if len(rc.Tenants) > 0 {
			r.tenants = map[string]bool{}
			for _, t := range rc.Tenants {
				r.tenants[t] = true
			}
		}
		var err error
		if r.render, err = newRenderer(rc); err != nil {
			return err
		}
		var ids []string
		if r.queue, ids, err = openRouteQueue(filepath.Join(n.cfg.Dir, "routes", rc.Name), n.cfg.MaxQueued); err != nil {
			return err
		}
		queued = append(queued, ids...)
		n.routes = append(n.routes, r)
	}
	seen, err := openNotifiedIDs(filepath.Join(n.cfg.Dir, "notified.log"), n.cfg.NotifiedTTL, n.now())
	if err != nil {
		return err
	}
	n.seen = seen
	var missing []string
	for _, id := range queued {
		if !seen.has(id) {
			missing = append(missing, id)
		}
	}
	return seen.add(missing, n.now())
}

// Write implements vigil.Sink. It queues a notification per alert and route, durably, and returns without waiting
// for any webhook. Only a closed sink makes it fail; notifications it cannot queue are dropped and counted.
func (n *Notify) Write(_ context.Context, alerts []*vigil.Alert) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrNotifyClosed
	}
	staged := make(map[*notifyRoute][]*queued)
	var ids []string
	for _, a := range alerts {
		routes := n.routesFor(a)
		if len(routes) == 0 {
			continue
		}
		if n.seen.has(a.ID) || slices.Contains(ids, a.ID) {
			for _, r := range routes {
				r.stats.Skipped.Add(1)
			}
			continue
		}
		if n.stage(a, routes, staged) {
			ids = append(ids, a.ID)
		}
	}
	return n.commit(staged, ids)
}

// stage writes an alert's notification into the queue of each of its routes, and says whether any took it.
func (n *Notify) stage(a *vigil.Alert, routes []*notifyRoute, staged map[*notifyRoute][]*queued) bool {
	note, err := newNotification(a)
	if err != nil {
		for _, r := range routes {
			n.drop(r, a.ID, "encode", err)
		}
		return false
	}
	any := false
	for _, r := range routes {
		it, err := r.queue.stage(note, len(staged[r]))
		switch {
		case errors.Is(err, errQueueFull):
			n.drop(r, a.ID, "queue_full", err)
		case err != nil:
			n.drop(r, a.ID, "disk", err)
		default:
			staged[r] = append(staged[r], it)
			any = true
		}
	}
	return any
}

// commit records the notified ids, then hands the staged notifications to the senders. Errors are logged: the
// files are written, so the notifications will be sent; at worst a crash makes a duplicate that is not marked.
func (n *Notify) commit(staged map[*notifyRoute][]*queued, ids []string) error {
	if err := n.seen.add(ids, n.now()); err != nil {
		n.log.Error("notify: cannot record notified alerts; after a crash they may notify twice", "err", err)
	}
	for r, items := range staged {
		if err := r.queue.commit(items); err != nil {
			n.log.Error("notify: sync queue", "route", r.cfg.Name, "err", err)
		}
		r.stats.Queued.Add(int64(len(items)))
	}
	return nil
}

// drop counts a notification that cannot be queued and says so, at most once a minute per route.
func (n *Notify) drop(r *notifyRoute, id, reason string, err error) {
	total := r.stats.addDropped(reason)
	if r.warn.allow(n.now()) {
		n.log.Error("notify: notification dropped", "route", r.cfg.Name, "alert_id", id, "reason", reason,
			"err", err, "max_queued", n.cfg.MaxQueued, "dropped_for_this_reason", total)
	}
}

// routesFor returns the routes an alert goes to: none for an internal or a shadow alert.
func (n *Notify) routesFor(a *vigil.Alert) []*notifyRoute {
	if a.Internal || a.Shadow { // shadow rules are never notified
		return nil
	}
	level := slices.Index(notifySeverities, text(vigil.Get(a.Doc, "vigil", "alert", "severity"))) + 1
	var out []*notifyRoute
	for _, r := range n.routes {
		if level >= r.level && (r.tenants == nil || r.tenants[a.Tenant]) {
			out = append(out, r)
		}
	}
	return out
}

// Close stops the senders at once, cancelling requests in flight; what is still queued is sent on the next start.
func (n *Notify) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.cancel()
	n.wg.Wait()
	for _, r := range n.routes {
		st := &r.stats
		n.log.Info("notify route closed", "route", r.cfg.Name, "sent", st.Sent.Load(), "queued", r.queue.len(),
			"failed_attempts", st.FailedAttempts.Load(), "rejected", st.Rejected.Load(), "skipped", st.Skipped.Load())
	}
	return n.seen.close()
}
