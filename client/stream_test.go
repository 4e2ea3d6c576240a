package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gfsha/master/client"
)

func TestStreamWriterReader(t *testing.T) {
	c := startData(t) // 256 KiB chunks
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.Mkdir(ctx, "/s"); err != nil {
		t.Fatal(err)
	}
	// 40 KiB pieces: several pieces of one 256 KiB chunk are in flight at
	// once, and must still land in order.
	defer client.SetWritePieceForTest(40 << 10)()
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 256 << 10, 1<<20 + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		path := "/s/f"
		w, err := c.CreateFile(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		// Odd-sized writes, so pieces and chunk boundaries fall mid-call.
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+r.IntN(300<<10))
			if n, err := w.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v", k, n, err)
			}
			rest = rest[k:]
		}
		if _, err := c.Stat(ctx, path); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Stat(%s) before Close = %v; want not found (a file appears on Close)", path, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		if st, err := c.Stat(ctx, path); err != nil || st.Size != int64(size) || st.Mtime.IsZero() {
			t.Fatalf("Stat(%s) = %+v, %v; want size %d and a modification time", path, st, err, size)
		}
		f, err := c.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if n, err := io.Copy(&got, f); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("io.Copy(Open(%s)) = %d, %v; want the %d bytes written", path, n, err, size)
		}
		for range 20 {
			if size == 0 {
				break
			}
			off := r.IntN(size)
			buf := make([]byte, r.IntN(600<<10))
			n, err := f.ReadAt(buf, int64(off))
			want := min(len(buf), size-off)
			if n != want || !bytes.Equal(buf[:n], data[off:off+n]) || (n < len(buf) && err != io.EOF) || (n == len(buf) && err != nil) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d bytes equal to the file's", len(buf), off, n, err, want)
			}
		}
		f.Close()
		if _, err := f.ReadAt(make([]byte, 1), 0); size > 0 && !errors.Is(err, client.ErrClosed) {
			t.Fatalf("ReadAt after Close = %v; want ErrClosed", err)
		}
		if err := c.Delete(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	// CreateFile of an existing path, and Abort, leave nothing behind.
	if err := c.Create(ctx, "/s/exists"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateFile(ctx, "/s/exists"); !errors.Is(err, client.ErrExists) {
		t.Fatalf("CreateFile(existing) = %v; want ErrExists", err)
	}
	w, err := c.CreateFile(ctx, "/s/aborted")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 300<<10))
	w.Abort()
	if es, err := c.List(ctx, "/s"); err != nil || len(es) != 1 || es[0].Name != "exists" {
		t.Fatalf("List(/s) = %+v, %v; want only exists (no hidden leftovers)", es, err)
	}
}
