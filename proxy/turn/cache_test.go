package turn

import (
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCacheBoundAndRecency(t *testing.T) {
	c := NewCache[int, string](2, 0, nil)
	c.Put(1, "a")
	c.Put(2, "b")
	if _, ok := c.Get(1); !ok { // 1 is now the most recently used
		t.Fatal("1 missing")
	}
	c.Put(3, "c") // evicts 2, the least recently used
	if _, ok := c.Get(2); ok {
		t.Error("2 should have been evicted")
	}
	for _, k := range []int{1, 3} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%d evicted", k)
		}
	}
	if c.Len() != 2 {
		t.Errorf("len %d, want 2", c.Len())
	}
}

func TestCacheTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := NewCache[string, int](10, time.Minute, clk.now)
	c.Put("a", 1)
	clk.add(50 * time.Second)
	if v, ok := c.Get("a"); !ok || v != 1 { // refreshes
		t.Fatalf("a = %v, %v", v, ok)
	}
	clk.add(50 * time.Second)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a expired although used 50s ago")
	}
	clk.add(time.Minute)
	if _, ok := c.Get("a"); ok {
		t.Fatal("a outlived its TTL")
	}
	n := 0
	c.Put("b", 2)
	clk.add(2 * time.Minute)
	c.Each(func(string, int) bool { n++; return true })
	if n != 0 {
		t.Errorf("Each saw %d expired entries", n)
	}
}

func TestCacheUpdateIsAtomic(t *testing.T) {
	c := NewCache[string, int](4, 0, nil)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Update("n", func(old int, _ bool) int { return old + 1 })
		}()
	}
	wg.Wait()
	if v, _ := c.Get("n"); v != 50 {
		t.Fatalf("n = %d, want 50", v)
	}
}
