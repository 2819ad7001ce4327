package main

import (
	"bytes"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/floe-fl/floe/atomicfile"
)

// outputFile buffers what is written to it and writes it to its path with
// atomicfile on Close: a regular file is replaced whole (never left half
// written), a device or FIFO is written in place.
type outputFile struct {
	path string
	buf  bytes.Buffer
}

// createOutput returns an outputFile for path (mode 0644).
func createOutput(path string) (*outputFile, error) { return &outputFile{path: path}, nil }

func (f *outputFile) Write(p []byte) (int, error) { return f.buf.Write(p) }

// Close writes the buffered bytes to the path.
func (f *outputFile) Close() error { return atomicfile.WriteFile(f.path, f.buf.Bytes(), 0o644) }

// savePlot renders p as the image format its path's extension names and
// writes it with atomicfile.
func savePlot(p *plot.Plot, w, h vg.Length, path string) error {
	wt, err := p.WriterTo(w, h, strings.TrimPrefix(filepath.Ext(path), "."))
	if err != nil {
		return err
	}
	f, _ := createOutput(path)
	if _, err := wt.WriteTo(f); err != nil {
		return err
	}
	return f.Close()
}
