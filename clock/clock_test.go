package clock

import (
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	f := NewFake(time.Unix(100, 0))
	a := f.After(2 * time.Second)
	b := f.After(5 * time.Second)
	if n, _ := f.Waiters(); n != 2 {
		t.Fatalf("waiters %d", n)
	}
	f.Advance(3 * time.Second)
	select {
	case got := <-a:
		if !got.Equal(time.Unix(103, 0)) {
			t.Fatalf("fired at %v", got)
		}
	default:
		t.Fatal("due waiter did not fire")
	}
	select {
	case <-b:
		t.Fatal("waiter fired early")
	default:
	}
	f.Advance(2 * time.Second)
	<-b
	if n, _ := f.Waiters(); n != 0 {
		t.Fatalf("waiters left %d", n)
	}
	<-f.After(0)
}

// TestFakeUntilCannotMiss: a deadline scheduled with Until after the clock
// has already moved past it fires at once.
func TestFakeUntilCannotMiss(t *testing.T) {
	f := NewFake(time.Unix(100, 0))
	deadline := time.Unix(105, 0)
	f.Advance(10 * time.Second)
	select {
	case <-f.Until(deadline):
	default:
		t.Fatal("Until of a past instant did not fire")
	}
	ch := f.Until(time.Unix(120, 0))
	f.Advance(9 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Second)
	<-ch
}
