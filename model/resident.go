package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The resident-trainer protocol (see the package documentation).
const (
	// ResidentProtocol names the protocol in the hello messages.
	ResidentProtocol = "floe-trainer"
	// ResidentVersion is the protocol version floe speaks.
	ResidentVersion = 1
	// FrameSizeMax bounds a message in either direction.
	FrameSizeMax = 1 << 20
	// EnvProtocol is set to "floe-trainer/1" in a resident trainer's
	// environment.
	EnvProtocol = "FLOE_TRAINER_PROTOCOL"
)

// ErrTrainerClosed is returned by calls on a closed ResidentTrainer.
var ErrTrainerClosed = errors.New("model: resident trainer closed")

// ResidentTrainer keeps one trainer program running across rounds and
// talks to it over the resident-trainer protocol (see the package
// documentation): the data file is written once, and only the model files
// change from round to round. A program that crashes, hangs past the
// call's context, breaks the protocol or writes a bad model fails that call
// and is killed; the next call starts it again.
//
// Its fields may be set before the first call and must not change
// afterwards. Calls are safe for concurrent use and run one at a time.
// Close stops the program and removes the working directory.
type ResidentTrainer struct {
	// Command is the program and its arguments.
	Command []string
	// TempDir is where the working directory is created (os.TempDir if empty).
	TempDir string
	// Env holds extra "KEY=value" entries for the program's environment,
	// which otherwise inherits this process's.
	Env []string
	// Stderr receives the program's stderr (the end of it is quoted in
	// errors either way). Its stdout carries the protocol.
	Stderr io.Writer
	// Meta is written as the input model's safetensors metadata.
	Meta map[string]string
	// StartTimeout bounds the start and the hello exchange (default 2 min:
	// importing PyTorch takes seconds).
	StartTimeout time.Duration
	// CallTimeout, if > 0, bounds each train or evaluate call on top of the
	// caller's context.
	CallTimeout time.Duration
	// KillDelay is how long Close waits for the program to exit after
	// shutdown, and how long its pipes may stay open after it exits or is
	// killed (default 5 s).
	KillDelay time.Duration

	mu     sync.Mutex // guards the following
	closed bool
	proc   *residentProc
	dir    string     // working directory, made by the first call
	data   []dataFile // the data files written, oldest first (at most dataFilesMax)
	files  int        // data files written
	nextID uint64
	starts int
}

// NewResidentTrainer returns a Trainer that keeps command running and
// talks to it over the resident-trainer protocol. The options are those of
// NewExternalTrainer (WithOutput's stdout is not used: the program's
// stdout carries the protocol).
func NewResidentTrainer(command []string, opts ...ExternalOption) *ResidentTrainer {
	e := NewExternalTrainer(command, opts...)
	return &ResidentTrainer{Command: e.Command, TempDir: e.TempDir, Env: e.Env, Stderr: e.Stderr, Meta: e.Meta, KillDelay: e.KillDelay}
}

// residentRequest is a message from floe to the trainer.
type residentRequest struct {
	Type     string           `json:"type"`
	ID       uint64           `json:"id,omitempty"`
	Protocol string           `json:"protocol,omitempty"`
	Versions []int            `json:"versions,omitempty"`
	ModelIn  string           `json:"model_in,omitempty"`
	ModelOut string           `json:"model_out,omitempty"`
	Data     string           `json:"data,omitempty"`
	DataID   string           `json:"data_id,omitempty"`
	Config   *trainConfigJSON `json:"config,omitempty"`
}

// residentReply is a message from the trainer to floe.
type residentReply struct {
	Type        string             `json:"type"`
	ID          uint64             `json:"id"`
	Protocol    string             `json:"protocol"`
	Version     int                `json:"version"`
	NumExamples json.RawMessage    `json:"num_examples"`
	Metrics     map[string]float64 `json:"metrics"`
	Message     string             `json:"message"`
}

// dataFilesMax is how many data files a ResidentTrainer keeps (e.g. the
// training set and an evaluation set).
const dataFilesMax = 4

// dataFile is a data file written for a Dataset.
type dataFile struct {
	d        *Dataset
	n        int
	path, id string // id: hex SHA-256 of the file
}

// residentProc is one run of the program.
type residentProc struct {
	cmd    *exec.Cmd
	in     *os.File // the write end of its stdin
	out    *os.File // the read end of its stdout
	tail   *syncTail
	exited chan struct{} // closed when Wait returned
}

// Starts reports how many times the program was started.
func (t *ResidentTrainer) Starts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.starts
}

// DataWrites reports how many data files were written.
func (t *ResidentTrainer) DataWrites() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.files
}

// Train implements Trainer.
func (t *ResidentTrainer) Train(ctx context.Context, global *Params, data *Dataset, cfg TrainConfig) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if global == nil {
		return nil, errors.New("model: nil global params")
	}
	if err := global.CheckFinite(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	req := residentRequest{Type: "train", Config: &trainConfigJSON{cfg.Epochs, cfg.Steps, cfg.BatchSize, cfg.LR, cfg.Mu, cfg.WeightDecay, cfg.Seed}}
	rep, err := t.callLocked(ctx, &req, global, data, true)
	if err != nil {
		return nil, err
	}
	out, err := readExternalModel(req.ModelOut, global)
	if err != nil {
		return nil, t.errorf("train: %w", err)
	}
	res, err := checkResult(rep.NumExamples, rep.Metrics)
	if err != nil {
		return nil, t.errorf("train: %w", err)
	}
	res.Params = out
	return res, nil
}

// Evaluate asks the program to evaluate p on data. The Result holds the
// example count and the program's metrics (e.g. "loss", "accuracy"); its
// Params are nil.
func (t *ResidentTrainer) Evaluate(ctx context.Context, p *Params, data *Dataset) (*Result, error) {
	if p == nil {
		return nil, errors.New("model: nil params")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rep, err := t.callLocked(ctx, &residentRequest{Type: "evaluate"}, p, data, false)
	if err != nil {
		return nil, err
	}
	res, err := checkResult(rep.NumExamples, rep.Metrics)
	if err != nil {
		return nil, t.errorf("evaluate: %w", err)
	}
	return res, nil
}

// Close asks the program to shut down, kills it if it has not exited
// after KillDelay, and removes the working directory. It waits for a call
// in progress to end.
func (t *ResidentTrainer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	var err error
	if p := t.proc; p != nil {
		t.proc = nil
		p.in.SetWriteDeadline(time.Now().Add(t.killDelay()))
		if werr := writeFrame(p.in, &residentRequest{Type: "shutdown"}); werr == nil {
			p.in.Close() // EOF after shutdown, for programs that read to the end
			select {
			case <-p.exited:
			case <-time.After(t.killDelay()):
				err = fmt.Errorf("model: resident trainer %s did not exit within %v of shutdown; killed", t.name(), t.killDelay())
			}
		}
		p.kill()
	}
	if t.dir != "" {
		if rerr := os.RemoveAll(t.dir); rerr != nil && err == nil {
			err = fmt.Errorf("model: resident trainer: %w", rerr)
		}
	}
	return err
}

func (t *ResidentTrainer) name() string {
	if len(t.Command) == 0 {
		return ""
	}
	return filepath.Base(t.Command[0])
}

func (t *ResidentTrainer) killDelay() time.Duration {
	if t.KillDelay > 0 {
		return t.KillDelay
	}
	return 5 * time.Second
}

// errorf formats an error of the program, quoting the end of its stderr.
func (t *ResidentTrainer) errorf(format string, args ...any) error {
	quote := ""
	if t.proc != nil {
		quote = t.proc.tail.quote()
	}
	return &wrapped{fmt.Errorf("model: resident trainer %s: "+format, append([]any{t.name()}, args...)...), quote}
}

// wrapped adds a suffix to an error's text and keeps it unwrappable.
type wrapped struct {
	err    error
	suffix string
}

func (w *wrapped) Error() string { return w.err.Error() + w.suffix }
func (w *wrapped) Unwrap() error { return w.err }

// callLocked writes the model (and the data file when it is new), makes
// sure the program runs, sends req and returns the program's result. The
// program is killed on any error but an error reply.
func (t *ResidentTrainer) callLocked(ctx context.Context, req *residentRequest, model *Params, data *Dataset, train bool) (*residentReply, error) {
	if t.closed {
		return nil, ErrTrainerClosed
	}
	if len(t.Command) == 0 || t.Command[0] == "" {
		return nil, errors.New("model: resident trainer has no command")
	}
	if err := t.prepareLocked(req, model, data, train); err != nil {
		return nil, err
	}
	if t.proc == nil {
		if err := t.startLocked(ctx); err != nil {
			return nil, err
		}
	}
	if t.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.CallTimeout)
		defer cancel()
	}
	t.nextID++
	req.ID = t.nextID
	rep, err := t.exchangeLocked(ctx, req)
	if err != nil {
		err = t.errorf("%s: %w", req.Type, err)
		t.killLocked()
		return nil, err
	}
	switch {
	case rep.Type == "error" && rep.ID == req.ID:
		msg := rep.Message
		if len(msg) > 2048 {
			msg = msg[:2048] + "..."
		}
		return nil, t.errorf("%s: the trainer reports: %s", req.Type, strconv.Quote(msg))
	case rep.Type != "result" || rep.ID != req.ID:
		err := t.errorf("%s: protocol error: got a %q message for call %d, want the result of call %d", req.Type, rep.Type, rep.ID, req.ID)
		t.killLocked()
		return nil, err
	}
	return rep, nil
}

// prepareLocked writes the model file, and the data file if data is not
// the one already written, and fills in req's paths.
func (t *ResidentTrainer) prepareLocked(req *residentRequest, model *Params, data *Dataset, train bool) error {
	if t.dir == "" {
		dir, err := os.MkdirTemp(t.TempDir, "floe-resident-*")
		if err != nil {
			return fmt.Errorf("model: resident trainer: %w", err)
		}
		t.dir = dir
	}
	in, err := MarshalSafetensors(model, t.Meta)
	if err != nil {
		return err
	}
	req.ModelIn = filepath.Join(t.dir, "model_in.safetensors")
	if err := os.WriteFile(req.ModelIn, in, 0o600); err != nil {
		return fmt.Errorf("model: resident trainer: %w", err)
	}
	if train {
		req.ModelOut = filepath.Join(t.dir, "model_out.safetensors")
		if err := os.Remove(req.ModelOut); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("model: resident trainer: %w", err)
		}
	}
	if data == nil || data.N == 0 {
		return nil
	}
	i := slices.IndexFunc(t.data, func(f dataFile) bool { return f.d == data && f.n == data.N })
	if i < 0 {
		b, err := MarshalDataset(data)
		if err != nil {
			return err
		}
		if len(t.data) == dataFilesMax {
			os.Remove(t.data[0].path)
			t.data = t.data[1:]
		}
		t.files++
		path := filepath.Join(t.dir, "data-"+strconv.Itoa(t.files)+".safetensors")
		if err := os.WriteFile(path, b, 0o400); err != nil {
			return fmt.Errorf("model: resident trainer: %w", err)
		}
		sum := sha256.Sum256(b)
		t.data = append(t.data, dataFile{data, data.N, path, hex.EncodeToString(sum[:])})
		i = len(t.data) - 1
	}
	req.Data, req.DataID = t.data[i].path, t.data[i].id
	return nil
}

// startLocked starts the program and exchanges hellos.
func (t *ResidentTrainer) startLocked(ctx context.Context) error {
	inR, inW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("model: resident trainer: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fmt.Errorf("model: resident trainer: %w", err)
	}
	p := &residentProc{in: inW, out: outR, tail: &syncTail{t: tailBuffer{max: 2048}}, exited: make(chan struct{})}
	cmd := exec.Command(t.Command[0], t.Command[1:]...)
	cmd.Env = append(os.Environ(), t.Env...)
	cmd.Env = append(cmd.Env, EnvProtocol+"="+ResidentProtocol+"/"+strconv.Itoa(ResidentVersion), EnvWorkDir+"="+t.dir)
	cmd.Stdin, cmd.Stdout = inR, outW
	cmd.Stderr = p.tail
	if t.Stderr != nil {
		cmd.Stderr = io.MultiWriter(p.tail, t.Stderr)
	}
	cmd.WaitDelay = t.killDelay()
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return fmt.Errorf("model: resident trainer %s: start: %w", t.name(), err)
	}
	p.cmd = cmd
	t.starts++
	go func() {
		cmd.Wait()
		close(p.exited)
		// A program that exited and left its stdout open in a child of its
		// own must not block a read forever.
		time.Sleep(t.killDelay())
		outR.SetReadDeadline(time.Unix(1, 0))
	}()
	t.proc = p
	start := t.StartTimeout
	if start <= 0 {
		start = 2 * time.Minute
	}
	hctx, cancel := context.WithTimeout(ctx, start)
	defer cancel()
	rep, err := t.exchangeLocked(hctx, &residentRequest{Type: "hello", Protocol: ResidentProtocol, Versions: []int{ResidentVersion}})
	switch {
	case err != nil:
		err = t.errorf("hello: %w", err)
	case rep.Type != "hello" || rep.Protocol != ResidentProtocol:
		err = t.errorf("hello: protocol error: got a %q message of protocol %q, want a %q hello", rep.Type, rep.Protocol, ResidentProtocol)
	case rep.Version != ResidentVersion:
		err = t.errorf("hello: the trainer speaks version %d, floe speaks %d", rep.Version, ResidentVersion)
	}
	if err != nil {
		t.killLocked()
		return err
	}
	return nil
}

// exchangeLocked writes req and reads one reply, giving up when ctx ends
// or the program exits.
func (t *ResidentTrainer) exchangeLocked(ctx context.Context, req *residentRequest) (*residentReply, error) {
	p := t.proc
	past := time.Unix(1, 0)
	stop := context.AfterFunc(ctx, func() {
		p.in.SetWriteDeadline(past)
		p.out.SetReadDeadline(past)
	})
	b, err := exchange(p, req)
	if !stop() {
		// The deadlines are in the past: this run of the program is done
		// for, whatever the exchange did.
		return nil, fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	return b, err
}

func exchange(p *residentProc, req *residentRequest) (*residentReply, error) {
	if err := writeFrame(p.in, req); err != nil {
		return nil, p.ioError("write", err)
	}
	b, err := readFrame(p.out, FrameSizeMax)
	if err != nil {
		return nil, p.ioError("read", err)
	}
	var rep residentReply
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("protocol error: bad message: %v", err)
	}
	if dec.More() {
		return nil, errors.New("protocol error: data after the message's JSON object")
	}
	return &rep, nil
}

// ioError describes a failed read or write, saying when the program exited.
func (p *residentProc) ioError(op string, err error) error {
	select {
	case <-p.exited:
		return fmt.Errorf("the trainer exited (%v)", p.cmd.ProcessState)
	case <-time.After(100 * time.Millisecond):
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the trainer closed its stdout")
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (t *ResidentTrainer) killLocked() {
	if t.proc != nil {
		t.proc.kill()
		t.proc = nil
	}
}

// kill ends the program and waits for it.
func (p *residentProc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
	p.in.Close()
	p.out.Close()
}

// writeFrame writes v as one frame: a 4-byte big-endian length, then JSON.
func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > FrameSizeMax {
		return fmt.Errorf("message of %d bytes above the limit of %d", len(b), FrameSizeMax)
	}
	frame := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(frame, uint32(len(b)))
	copy(frame[4:], b)
	_, err = w.Write(frame)
	return err
}

// readFrame reads one frame of at most max bytes.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || n > uint32(max) {
		return nil, fmt.Errorf("protocol error: a frame of %d bytes (limit %d; is the trainer printing to stdout?)", n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// syncTail is a tailBuffer safe for concurrent use.
type syncTail struct {
	mu sync.Mutex // guards t
	t  tailBuffer
}

func (s *syncTail) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.Write(p)
}

func (s *syncTail) quote() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.quote()
}
