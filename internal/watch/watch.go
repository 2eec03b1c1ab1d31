// Package watch reports changes to a set of files by watching the
// directories that hold them (fsnotify), so that editors' rename-on-save,
// delete-and-recreate and Kubernetes' ..data symlink swaps are all seen.
package watch

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher calls a function once a burst of changes to its files settles. It
// is safe for concurrent use.
type Watcher struct {
	fs       *fsnotify.Watcher
	debounce time.Duration
	onChange func()
	onError  func(error)

	mu    sync.Mutex
	files map[string]bool // absolute paths of watched files
	dirs  map[string]bool // directories added to fs
	timer *time.Timer
	done  chan struct{}
}

// New starts a Watcher that calls onChange debounce after the last event
// concerning one of the files set with Set. onError receives watcher errors.
func New(debounce time.Duration, onChange func(), onError func(error)) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{fs: fw, debounce: debounce, onChange: onChange, onError: onError,
		files: map[string]bool{}, dirs: map[string]bool{}, done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// Set replaces the watched files ("" entries are ignored). Directories no
// longer needed are dropped.
func (w *Watcher) Set(files ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[string]bool{}
	dirs := map[string]bool{}
	for _, f := range files {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		want[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if !w.dirs[d] {
			if err := w.fs.Add(d); err != nil {
				return fmt.Errorf("watch %s: %w", d, err)
			}
			w.dirs[d] = true
		}
	}
	for d := range w.dirs {
		if !dirs[d] {
			w.fs.Remove(d)
			delete(w.dirs, d)
		}
	}
	w.files = want
	return nil
}

// Close stops the watcher.
func (w *Watcher) Close() error {
	close(w.done)
	return w.fs.Close()
}

func (w *Watcher) loop() {
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.concerns(ev.Name) {
				w.kick()
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if w.onError != nil {
				w.onError(err)
			}
			// Events may have been lost (queue overflow): check anyway.
			w.kick()
		}
	}
}

// concerns reports whether an event on name may change a watched file: the
// file itself, or a Kubernetes-style "..data" entry in its directory.
func (w *Watcher) concerns(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.files[name] {
		return true
	}
	if strings.HasPrefix(filepath.Base(name), "..") {
		dir := filepath.Dir(name)
		for f := range w.files {
			if filepath.Dir(f) == dir {
				return true
			}
		}
	}
	return false
}

// kick (re)starts the debounce timer.
func (w *Watcher) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(w.debounce, w.onChange)
		return
	}
	w.timer.Reset(w.debounce)
}
