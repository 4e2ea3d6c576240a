package maelstrom

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Run speaks the protocol: it reads one JSON message per line from stdin,
// answers each in order, one at a time, on stdout, and logs on stderr.
//
// It returns nil when stdin ends (EOF) or ctx ends, after stopping the
// masters and etcd and removing etcd's data; an error when stdin or stdout
// fail. stdin is read by a goroutine that ends at the next line or EOF after
// Run returns (a read in progress cannot be interrupted); Run does not wait
// for it when ctx ends first.
func Run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := newServer(stdout, log)
	defer s.close()

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		r := bufio.NewReader(stdin)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				select {
				case lines <- line:
				case <-stop:
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "why", context.Cause(ctx))
			return nil
		case err := <-readErr:
			if errors.Is(err, io.EOF) {
				log.Info("stdin closed; stopping")
				return nil
			}
			return fmt.Errorf("maelstrom: read stdin: %w", err)
		case line := <-lines:
			if err := s.handleLine(ctx, line); err != nil {
				return err
			}
		}
	}
}
