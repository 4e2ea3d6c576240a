package etcdprobe

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// A port nobody listens on is reported as refused at once; a listening one
// (or a mix) is left to the real request.
func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	live := l.Addr().String()

	err = Refused(t.Context(), []string{dead, "http://" + dead})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), dead) {
		t.Fatalf("Refused(%s) = %v; want ErrRefused naming it", dead, err)
	}
	for _, eps := range [][]string{{live}, {dead, "http://" + live}, {"unix:///nowhere"}, nil} {
		if err := Refused(t.Context(), eps); err != nil {
			t.Errorf("Refused(%v) = %v; want nil", eps, err)
		}
	}
}
