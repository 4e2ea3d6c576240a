package client

import "context"

// AppendTwiceForTest appends one record twice under the same id, as a
// retried append whose first attempt did land would.
func (c *Client) AppendTwiceForTest(ctx context.Context, path string, data []byte) error {
	_, frame := frameRecord(data)
	for range 2 {
		off, err := c.appendOnce(ctx, path, frame)
		if err != nil {
			return err
		}
		if err := c.growSize(ctx, path, off+int64(len(frame))); err != nil {
			return err
		}
	}
	return nil
}

// SetWritePieceForTest makes writers created from now on cut pieces of n
// bytes, until the returned function restores the default. Not for
// parallel tests.
func SetWritePieceForTest(n int64) func() {
	old := writePiece
	writePiece = n
	return func() { writePiece = old }
}
