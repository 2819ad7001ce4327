package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

type testMsg struct {
	A uint64 `cbor:"1,keyasint"`
	B string `cbor:"2,keyasint,omitempty"`
	C []byte `cbor:"3,keyasint,omitempty"`
}

func TestMsgRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := testMsg{A: 7, B: "x", C: []byte{1, 2}}
	if err := WriteMsg(&buf, in); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("tail")
	var out testMsg
	if err := ReadMsg(&buf, 100, &out); err != nil {
		t.Fatal(err)
	}
	if out.A != 7 || out.B != "x" || !bytes.Equal(out.C, []byte{1, 2}) {
		t.Fatalf("got %+v", out)
	}
	if buf.String() != "tail" {
		t.Fatalf("ReadMsg consumed past its frame: left %q", buf.String())
	}
}

func TestMsgLimits(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMsg(&buf, testMsg{C: make([]byte, 200)}); err != nil {
		t.Fatal(err)
	}
	var out testMsg
	if err := ReadMsg(&buf, 100, &out); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("want ErrMessageTooLarge, got %v", err)
	}
	if err := ReadMsg(bytes.NewReader(nil), 100, &out); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
	// Truncated body.
	if err := ReadMsg(bytes.NewReader([]byte{5, 0xa1}), 100, &out); err == nil {
		t.Fatal("truncated frame decoded")
	}
	// Duplicate map keys are rejected.
	if err := Unmarshal([]byte{0xa2, 0x01, 0x01, 0x01, 0x02}, &out); err == nil {
		t.Fatal("duplicate key accepted")
	}
	// Unknown fields are rejected.
	if err := Unmarshal([]byte{0xa1, 0x09, 0x01}, &out); err == nil {
		t.Fatal("unknown field accepted")
	}
}

func TestMarshalDeterministic(t *testing.T) {
	m := map[string]int{"b": 1, "a": 2, "c": 3}
	x, _ := Marshal(m)
	for i := 0; i < 20; i++ {
		y, _ := Marshal(m)
		if !bytes.Equal(x, y) {
			t.Fatal("map encoding not deterministic")
		}
	}
}

func FuzzReadMsg(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, testMsg{A: 1, B: "hello", C: []byte{9}})
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m testMsg
		if err := ReadMsg(bytes.NewReader(data), 1<<16, &m); err != nil {
			return
		}
		// Whatever decodes must re-encode to a frame that decodes to the same value.
		var out bytes.Buffer
		if err := WriteMsg(&out, m); err != nil {
			t.Fatal(err)
		}
		var m2 testMsg
		if err := ReadMsg(&out, 1<<16, &m2); err != nil {
			t.Fatal(err)
		}
		if m.A != m2.A || m.B != m2.B || !bytes.Equal(m.C, m2.C) {
			t.Fatalf("round trip changed %+v to %+v", m, m2)
		}
	})
}
