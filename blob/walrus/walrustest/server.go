package walrustest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxEpochs is the most epochs ahead the server sells, as Walrus Mainnet.
const MaxEpochs = 53

// BlobID returns the server's blob ID for data.
func BlobID(data []byte) [32]byte {
	return sha256.Sum256(append([]byte("walrustest/blob-id\x00"), data...))
}

func idText(id [32]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

type stored struct {
	data     []byte
	endEpoch uint64
	lag      int // 404s still to answer
	corrupt  bool
}

// Server is an in-process Walrus publisher and aggregator.
type Server struct {
	// URL is the base URL of both the publisher and the aggregator.
	URL  string
	srv  *httptest.Server
	done chan struct{} // closed by Close: slow answers give up

	mu         sync.Mutex // guards the following
	blobs      map[[32]byte]*stored
	epoch      uint64
	maxUpload  int64
	putFail    []int
	getFail    []int
	drop       int
	slow       time.Duration
	slowN      int
	lag        int
	nextAnswer string
	puts, gets int
}

// New starts a server on a loopback port.
func New() *Server {
	s := &Server{blobs: map[[32]byte]*stored{}, epoch: 1, maxUpload: 10 << 20, done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server and waits for its requests to end.
func (s *Server) Close() {
	close(s.done)
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// MaxUpload sets the upload cap in bytes (default 10 MiB).
func (s *Server) MaxUpload(n int64) { s.mu.Lock(); s.maxUpload = n; s.mu.Unlock() }

// FailPuts makes the next n PUTs answer status with an "error" answer.
func (s *Server) FailPuts(status, n int) {
	s.mu.Lock()
	s.putFail = appendN(s.putFail, status, n)
	s.mu.Unlock()
}

// FailGets makes the next n GETs answer status with an "error" answer.
func (s *Server) FailGets(status, n int) {
	s.mu.Lock()
	s.getFail = appendN(s.getFail, status, n)
	s.mu.Unlock()
}

// Drop makes the next n requests lose their connection without an answer.
func (s *Server) Drop(n int) { s.mu.Lock(); s.drop += n; s.mu.Unlock() }

// Slow delays the next n answers by d.
func (s *Server) Slow(d time.Duration, n int) { s.mu.Lock(); s.slow, s.slowN = d, n; s.mu.Unlock() }

// Lag makes every blob certified from now on answer 404 to its first n
// reads.
func (s *Server) Lag(n int) { s.mu.Lock(); s.lag = n; s.mu.Unlock() }

// AnswerNextPut makes the next PUT answer kind ("markedInvalid" or
// "error") with HTTP 200, storing nothing.
func (s *Server) AnswerNextPut(kind string) { s.mu.Lock(); s.nextAnswer = kind; s.mu.Unlock() }

// Corrupt makes every read of the blob id answer other bytes (one bit
// flipped, or one byte for an empty blob) and reports whether it is held.
func (s *Server) Corrupt(id [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[id]
	if ok {
		b.corrupt = true
	}
	return ok
}

// AdvanceEpochs moves the network's epoch by n; blobs whose storage ends
// are no longer served.
func (s *Server) AdvanceEpochs(n uint64) { s.mu.Lock(); s.epoch += n; s.mu.Unlock() }

// Puts and Gets report the requests the server answered or dropped.
func (s *Server) Puts() int { s.mu.Lock(); defer s.mu.Unlock(); return s.puts }
func (s *Server) Gets() int { s.mu.Lock(); defer s.mu.Unlock(); return s.gets }

// Len reports how many blobs the server holds, expired ones included.
func (s *Server) Len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.blobs) }

func appendN(q []int, v, n int) []int {
	for range n {
		q = append(q, v)
	}
	return q
}

func pop(q *[]int) int {
	if len(*q) == 0 {
		return 0
	}
	v := (*q)[0]
	*q = (*q)[1:]
	return v
}

// fault is what the server does to one request before its real answer.
type fault struct {
	drop   bool
	delay  time.Duration
	status int
	answer string
}

func (s *Server) faultFor(put bool) fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f fault
	if put {
		s.puts++
	} else {
		s.gets++
	}
	if s.drop > 0 {
		s.drop--
		f.drop = true
		return f
	}
	if s.slowN > 0 {
		s.slowN--
		f.delay = s.slow
	}
	if put {
		f.status = pop(&s.putFail)
		if f.status == 0 {
			f.answer, s.nextAnswer = s.nextAnswer, ""
		}
	} else {
		f.status = pop(&s.getFail)
	}
	return f
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	put := r.Method == http.MethodPut && r.URL.Path == "/v1/blobs"
	get := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/blobs/")
	if !put && !get {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
		return
	}
	f := s.faultFor(put)
	var body []byte
	if put {
		// Read the upload first: the server notices a client that goes
		// away only once the body is read.
		s.mu.Lock()
		max := s.maxUpload
		s.mu.Unlock()
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, max+1)); err != nil {
			return
		}
		if int64(len(body)) > max && !f.drop && f.delay == 0 && f.status == 0 {
			writeError(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", fmt.Sprintf("blob above the %d-byte upload limit", max))
			return
		}
	}
	if f.drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	if f.status != 0 {
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, f.status, http.StatusText(f.status), "injected failure")
		return
	}
	if put {
		s.put(w, r, body, f.answer)
	} else {
		s.get(w, strings.TrimPrefix(r.URL.Path, "/v1/blobs/"))
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, data []byte, answer string) {
	q := r.URL.Query()
	epochs := uint64(1)
	if e := q.Get("epochs"); e != "" {
		n, err := strconv.ParseUint(e, 10, 32)
		if err != nil || n < 1 || n > MaxEpochs {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("epochs must be in 1..%d", MaxEpochs))
			return
		}
		epochs = n
	}
	if q.Get("permanent") == "true" && q.Get("deletable") == "true" {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "a blob cannot be both permanent and deletable")
		return
	}
	s.mu.Lock()
	max := s.maxUpload
	s.mu.Unlock()
	if int64(len(data)) > max {
		writeError(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", fmt.Sprintf("blob above the %d-byte upload limit", max))
		return
	}
	id := BlobID(data)
	event := map[string]any{"txDigest": hex.EncodeToString(id[:8]), "eventSeq": "0"}
	switch answer {
	case "markedInvalid":
		writeJSON(w, http.StatusOK, map[string]any{"markedInvalid": map[string]any{"blobId": idText(id), "event": event}})
		return
	case "error":
		writeJSON(w, http.StatusOK, map[string]any{"error": map[string]any{"code": 500, "status": "INTERNAL", "message": "injected error answer"}})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := s.epoch + epochs
	if b, ok := s.blobs[id]; ok && b.endEpoch >= end {
		writeJSON(w, http.StatusOK, map[string]any{"alreadyCertified": map[string]any{"blobId": idText(id), "event": event, "endEpoch": b.endEpoch}})
		return
	}
	if b, ok := s.blobs[id]; ok {
		b.endEpoch = end
	} else {
		s.blobs[id] = &stored{data: data, endEpoch: end, lag: s.lag}
	}
	obj := "0x" + hex.EncodeToString(id[:])
	writeJSON(w, http.StatusOK, map[string]any{"newlyCreated": map[string]any{
		"blobObject": map[string]any{
			"id": obj, "registeredEpoch": s.epoch, "blobId": idText(id), "size": len(data),
			"encodingType": "RS2", "certifiedEpoch": s.epoch,
			"storage":   map[string]any{"id": obj, "startEpoch": s.epoch, "endEpoch": end, "storageSize": 66034000},
			"deletable": q.Get("deletable") == "true",
		},
		"resourceOperation": map[string]any{"registerFromScratch": map[string]any{"encodedLength": 66034000, "epochsAhead": epochs}},
		"cost":              132300,
	}})
}

func (s *Server) get(w http.ResponseWriter, text string) {
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(raw) != 32 {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "not a blob ID")
		return
	}
	s.mu.Lock()
	b, ok := s.blobs[[32]byte(raw)]
	var out []byte
	if ok && b.endEpoch > s.epoch {
		if b.lag > 0 {
			b.lag--
			ok = false
		} else {
			out = append([]byte{}, b.data...)
			if b.corrupt {
				if len(out) == 0 {
					out = []byte{0}
				} else {
					out[len(out)/2] ^= 0x10
				}
			}
		}
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "the requested blob ID does not exist on Walrus")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "status": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
