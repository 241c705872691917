package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// appliedSet remembers, for every owned object, the hash of the configuration
// last applied and the resourceVersion the API server answered with. While the
// cached object still has that resourceVersion and the desired configuration
// hashes the same, nothing can have changed it, so the apply request is
// skipped. Any write by anyone bumps the resourceVersion, so drift is still
// corrected on the next reconcile. The zero value is ready to use.
type appliedSet struct {
	mu      sync.Mutex
	byRoute map[types.NamespacedName]map[string]appliedRecord
}

type appliedRecord struct {
	hash            string
	resourceVersion string
}

// unchanged reports whether object key of route was last applied with hash
// and is still at resourceVersion.
func (a *appliedSet) unchanged(route types.NamespacedName, key, hash, resourceVersion string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, ok := a.byRoute[route][key]
	return ok && rec.hash == hash && rec.resourceVersion == resourceVersion && resourceVersion != ""
}

// record notes a successful apply.
func (a *appliedSet) record(route types.NamespacedName, key, hash, resourceVersion string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byRoute == nil {
		a.byRoute = map[types.NamespacedName]map[string]appliedRecord{}
	}
	if a.byRoute[route] == nil {
		a.byRoute[route] = map[string]appliedRecord{}
	}
	a.byRoute[route][key] = appliedRecord{hash: hash, resourceVersion: resourceVersion}
}

// drop forgets one object of route.
func (a *appliedSet) drop(route types.NamespacedName, key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byRoute[route], key)
}

// forget drops what is known about a deleted route.
func (a *appliedSet) forget(route types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byRoute, route)
}
