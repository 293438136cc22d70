package follow

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
)

// A stream that breaks is watched again, each break is reported before
// the next watch, states reach got in order, and Run returns once ctx
// ends.
func TestRunRewatchesAfterBreaks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []int
	breaks, watches := 0, 0
	Run(ctx, slog.New(slog.DiscardHandler), "test", func(ctx context.Context, fn func(int) error) error {
		watches++
		if watches == 3 {
			cancel()
			return ctx.Err()
		}
		if err := fn(watches * 10); err != nil {
			return err
		}
		return errors.New("stream broke")
	}, func(s int) { got = append(got, s) }, func() { breaks++ })
	if !slices.Equal(got, []int{10, 20}) || watches != 3 || breaks != 2 {
		t.Fatalf("got %v after %d watches and %d breaks; want [10 20], 3 watches, 2 breaks", got, watches, breaks)
	}
}
