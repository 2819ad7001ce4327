package walrus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxAnswer bounds a publisher's JSON answer.
const maxAnswer = 1 << 20

// maxGraced bounds the tries of one read in its read grace.
const maxGraced = 10_000

// storeAnswer is a publisher's answer to PUT /v1/blobs: exactly one of its
// fields is set.
type storeAnswer struct {
	NewlyCreated *struct {
		BlobObject struct {
			BlobID string `json:"blobId"`
			Size   uint64 `json:"size"`
		} `json:"blobObject"`
	} `json:"newlyCreated"`
	AlreadyCertified *struct {
		BlobID   string `json:"blobId"`
		EndEpoch uint64 `json:"endEpoch"`
	} `json:"alreadyCertified"`
	MarkedInvalid *struct {
		BlobID string `json:"blobId"`
	} `json:"markedInvalid"`
	Error *apiError `json:"error"`
}

// apiError is the "error" object of an answer (Walrus uses google.rpc
// Status style: code, status, message).
type apiError struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func (e *apiError) text() string {
	switch {
	case e == nil:
		return ""
	case e.Status != "" && e.Message != "":
		return e.Status + ": " + e.Message
	case e.Message != "":
		return e.Message
	}
	return e.Status
}

// retryable reports whether an HTTP status is worth another try.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// try is one HTTP exchange's outcome: done (an answer to act on) or a
// retryable failure with its wait hint.
type try struct {
	status     int
	body       []byte
	retryAfter time.Duration // from a Retry-After header; 0 if none
}

// do runs req (built afresh by mk for each try) until an answer that is not
// retryable, the tries run out or ctx ends. keepTrying, if set, may ask for
// more tries past the limit for a given answer (the read grace), up to
// maxGraced tries in all.
func (s *Store) do(ctx context.Context, op string, mk func(context.Context) (*http.Request, error), limit int64, again func(status int) bool) (*try, error) {
	var lastErr error
	for i := 0; ; i++ {
		t, err := s.once(ctx, mk, limit)
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		if err == nil && !retryable(t.status) && (again == nil || !again(t.status)) {
			return t, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var wait time.Duration
		if err != nil {
			lastErr = fmt.Errorf("walrus: %s: %w", op, err)
		} else {
			lastErr = &HTTPError{Op: op, Status: t.status, Msg: errorText(t.body)}
			wait = t.retryAfter
		}
		graced := err == nil && again != nil && again(t.status) && i+1 < maxGraced
		if i+1 >= s.cfg.attempts && !graced {
			return nil, fmt.Errorf("%w (after %d tries)", lastErr, i+1)
		}
		d := s.cfg.backoff << min(i, 30)
		if d > s.cfg.backoffMax || d <= 0 {
			d = s.cfg.backoffMax
		}
		if wait > d {
			d = min(wait, s.cfg.backoffMax)
		}
		if err := s.cfg.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// once runs one try with the attempt timeout, reading at most limit bytes
// of a successful body (limit+1 means "too long").
func (s *Store) once(ctx context.Context, mk func(context.Context) (*http.Request, error), limit int64) (*try, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.attemptTimeout)
	defer cancel()
	req, err := mk(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.cfg.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		limit = maxAnswer
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	t := &try{status: resp.StatusCode, body: body}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if sec, err := strconv.Atoi(ra); err == nil && sec > 0 {
			t.retryAfter = time.Duration(sec) * time.Second
		}
	}
	if resp.StatusCode == http.StatusOK && int64(len(body)) > limit {
		return t, fmt.Errorf("%w: answer longer than %d bytes", ErrCorrupt, limit)
	}
	return t, nil
}

// errorText returns the message of an answer's JSON "error", if any.
func errorText(body []byte) string {
	var a struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(body, &a) == nil && a.Error != nil {
		return a.Error.text()
	}
	return ""
}

// putRaw stores data as one Walrus blob and returns its blob ID.
// putRaw stores the n bytes of r at off as one Walrus blob, streamed from
// r (each attempt reads them again).
func (s *Store) putRaw(ctx context.Context, r io.ReaderAt, off, n int64, epochs int, permanent bool) ([32]byte, error) {
	u := s.publisher + "/v1/blobs?epochs=" + strconv.Itoa(epochs)
	if permanent {
		u += "&permanent=true"
	} else {
		u += "&deletable=true"
	}
	mk := func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, io.NewSectionReader(r, off, n))
		if err != nil {
			return nil, err
		}
		req.ContentLength = n
		if n == 0 {
			req.Body = http.NoBody
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		return req, nil
	}
	t, err := s.do(ctx, "put", mk, maxAnswer, nil)
	if err != nil {
		return [32]byte{}, err
	}
	if t.status != http.StatusOK {
		return [32]byte{}, &HTTPError{Op: "put", Status: t.status, Msg: errorText(t.body)}
	}
	var a storeAnswer
	if err := json.Unmarshal(t.body, &a); err != nil {
		return [32]byte{}, fmt.Errorf("walrus: put: answer is not JSON: %v", err)
	}
	var text string
	switch {
	case a.Error != nil:
		return [32]byte{}, &HTTPError{Op: "put", Status: t.status, Msg: a.Error.text()}
	case a.MarkedInvalid != nil:
		return [32]byte{}, fmt.Errorf("%w: %s", ErrInvalid, a.MarkedInvalid.BlobID)
	case a.NewlyCreated != nil:
		text = a.NewlyCreated.BlobObject.BlobID
		if sz := a.NewlyCreated.BlobObject.Size; sz != 0 && sz != uint64(n) {
			return [32]byte{}, fmt.Errorf("walrus: put: publisher registered %d bytes, sent %d", sz, n)
		}
	case a.AlreadyCertified != nil:
		text = a.AlreadyCertified.BlobID
	default:
		return [32]byte{}, errors.New("walrus: put: answer has none of newlyCreated, alreadyCertified, markedInvalid, error")
	}
	return ParseID(text)
}

// ParseID parses a Walrus blob ID's text form (URL-safe unpadded base64 of
// 32 bytes).
func ParseID(text string) ([32]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("walrus: blob ID %q is not 32 bytes in URL-safe base64", text)
	}
	return [32]byte(b), nil
}

// getRaw reads one Walrus blob of at most limit bytes. A 404 is retried
// until graceUntil (the read grace after this Store's own put).
func (s *Store) getRaw(ctx context.Context, id [32]byte, limit int64, graceUntil time.Time) ([]byte, error) {
	u := s.aggregator + "/v1/blobs/" + IDString(id)
	mk := func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	}
	again := func(status int) bool {
		return status == http.StatusNotFound && s.cfg.clock.Now().Before(graceUntil)
	}
	t, err := s.do(ctx, "get", mk, limit, again)
	if err != nil {
		return nil, err
	}
	switch t.status {
	case http.StatusOK:
		return t.body, nil
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, IDString(id))
	}
	return nil, &HTTPError{Op: "get", Status: t.status, Msg: errorText(t.body)}
}
