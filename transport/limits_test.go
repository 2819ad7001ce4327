package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
)

// TestLimitLog: refusals for a resource limit are logged at the 1st, 2nd,
// 4th, 8th... one; other resource-manager events are not.
func TestLimitLog(t *testing.T) {
	var buf bytes.Buffer
	l := &limitLog{log: slog.New(slog.NewTextHandler(&buf, nil))}
	for i := 0; i < 10; i++ {
		l.ConsumeEvent(rcmgr.TraceEvt{Type: rcmgr.TraceBlockAddConnEvt, Name: "system"})
		l.ConsumeEvent(rcmgr.TraceEvt{Type: rcmgr.TraceAddConnEvt, Name: "system"})
	}
	if got := strings.Count(buf.String(), "resource limit reached"); got != 4 {
		t.Fatalf("%d warnings for 10 refusals, want 4 (1st, 2nd, 4th, 8th):\n%s", got, buf.String())
	}
}

// TestLimitsServeThousands: the connection limits admit thousands of
// participants (go-libp2p's defaults admitted about 128 inbound
// connections a GiB).
func TestLimitsServeThousands(t *testing.T) {
	l := Limits(1<<30, 4096).ToPartialLimitConfig()
	if in := l.System.ConnsInbound; in != 8192 {
		t.Fatalf("system inbound connections %v, want 8192", in)
	}
	// Every connection runs identify: as many identify streams at once.
	if in := l.Service[identify.ServiceName].StreamsInbound; in != 2048 {
		t.Fatalf("identify service inbound streams %v, want 2048", in)
	}
	for _, p := range []protocol.ID{identify.ID, identify.IDPush} {
		if in := l.Protocol[p].StreamsInbound; in != 2048 {
			t.Fatalf("%s inbound streams %v, want 2048", p, in)
		}
	}
}
