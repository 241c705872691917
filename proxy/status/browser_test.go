package status_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// screenshot is the picture of the page the docs show; UPDATE_SCREENSHOT=1
// rewrites it from the browser test.
const screenshot = "../../docs/images/status-page.png"

// browser finds Chromium. Without it the browser test is skipped locally,
// and fails in CI (CI set), where .ci/run installs it.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no Chromium on the PATH: the status page's browser test needs it (Debian: apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// The page in a real headless browser: it renders the figures of the known
// sequence, its charts draw, nothing is logged to the console (a blocked
// resource, a CSP violation and a script error all would be), and neither
// key nor prompt is in the DOM.
func TestPageInHeadlessChromium(t *testing.T) {
	exe := browser(t)
	s := newStack(t)
	s.sendKnownSequence(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1100, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			problems = append(problems, fmt.Sprintf("console.%s", e.Type))
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError || e.Entry.Level == log.LevelWarning {
				problems = append(problems, fmt.Sprintf("%s %s: %s (%s)", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})

	var dom, title string
	var charts int
	figures := map[string]*string{}
	for key := range expectedFigures {
		figures[key] = new(string)
	}
	actions := []chromedp.Action{
		log.Enable(), runtime.Enable(),
		chromedp.Navigate(s.admin.URL + "/"),
		chromedp.WaitVisible(`section[data-rule="opus"]`, chromedp.ByQuery),
		chromedp.Title(&title),
		chromedp.Evaluate(`document.querySelectorAll("svg.chart polyline, svg.chart path, svg.chart polygon").length > 0 ? document.querySelectorAll("svg.chart").length : 0`, &charts),
		chromedp.OuterHTML("html", &dom, chromedp.ByQuery),
	}
	for key, dst := range figures {
		actions = append(actions, chromedp.Text(`section[data-rule="opus"] [data-k="`+key+`"]`, dst, chromedp.ByQuery))
	}
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
	// Anything the page would still log arrives by now.
	if err := chromedp.Run(ctx, chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}

	if title != "cascadeflow proxy status" {
		t.Errorf("title %q", title)
	}
	for key, want := range expectedFigures {
		if got := strings.Join(strings.Fields(*figures[key]), " "); got != want {
			t.Errorf("rendered opus %s = %q, want %q", key, got, want)
		}
	}
	if charts != 3 {
		t.Errorf("%d charts drawn, want 3", charts)
	}
	for _, secret := range []string{vendorKey, clientKey, marker} {
		if strings.Contains(dom, secret) {
			t.Errorf("the rendered page holds %q", secret)
		}
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the browser logged: %s", strings.Join(problems, "; "))
	}
	mu.Unlock()

	if os.Getenv("UPDATE_SCREENSHOT") != "" {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(screenshot); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("the docs' screenshot %s is missing or not a PNG (UPDATE_SCREENSHOT=1 writes it): %v", screenshot, err)
	}
}
