package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// runOwnManager starts a manager of the test's own, reconciling only
// ownManagerNamespace, and returns its reconciler and a stop function that
// waits for it to end.
func runOwnManager(t *testing.T, q QualityOptions) (*CascadeRouteReconciler, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, r, err := newManager(ctx, apiServer, func(o *cache.Options) {
		o.DefaultNamespaces = map[string]cache.Config{ownManagerNamespace: {}}
	}, q)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) || !r.Quality.SamplesCache.WaitForCacheSync(ctx) {
		t.Fatal("caches did not sync")
	}
	return r, stop
}

// qualityRoute holds rule opus to a quality target of 0.9 with 20 labels
// enough to calibrate; rule sonnet only has a second opinion.
func qualityRoute(ns, name string) *v1alpha1.CascadeRoute {
	cr := claudeCodeRoute(ns, name)
	cr.Spec.Rules[0].Quality = &v1alpha1.Quality{Target: ptr.To(0.9), Confidence: ptr.To(0.9), MinSamples: ptr.To[int32](20), Learn: ptr.To(false)}
	cr.Spec.Rules[1].SecondOpinion = &v1alpha1.SecondOpinion{Targets: []v1alpha1.Target{{Provider: "anthropic", Model: "claude-haiku-5-5"}}}
	return cr
}

// publish writes a pod's samples ConfigMap the way the proxy does.
func publish(t *testing.T, cr *v1alpha1.CascadeRoute, pod string, st routequality.State) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: cr.Namespace, Name: render.QualitySamplesPrefix(cr) + pod, Labels: map[string]string{
			routequality.LabelRole: routequality.RoleSamples, routequality.LabelRoute: cr.Name,
		}},
		Data: map[string]string{routequality.SamplesKey: string(b)},
	}
	if err := k8s.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
}

// podSamples are n labelled samples of rule opus from one pod: drafts
// scoring below 0.3 are worse than the verifier's answer, the others good.
func podSamples(pod string, n int, offset float64, at time.Time) routequality.State {
	var ss []routequality.Sample
	for i := range n {
		score := (float64(i) + offset) / float64(n)
		ss = append(ss, routequality.Sample{
			Sample: calibrate.Sample{Score: score, Labelled: true, Good: score >= 0.3, LabelProb: 1},
			Time:   at.Add(time.Duration(i) * time.Millisecond), Rule: "opus", Pod: pod, Seq: uint64(i + 1),
			Outcome: "escalated", DraftCost: 0.001, RequestHash: fmt.Sprintf("%064d", i),
		})
	}
	return routequality.State{Version: routequality.StateVersion, Routes: map[string]routequality.RouteState{"opus": {Samples: ss}}}
}

func archivedSamples(t *testing.T, cr *v1alpha1.CascadeRoute) map[string]int {
	t.Helper()
	var cm corev1.ConfigMap
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: cr.Namespace, Name: render.QualityArchiveName(cr)}, &cm); err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(cm.Data[routequality.SamplesKey])
	if err != nil {
		t.Fatal(err)
	}
	perPod := map[string]int{}
	for _, s := range st.Routes["opus"].Samples {
		perPod[s.Pod]++
		if s.RequestHash != "" {
			t.Error("the archive keeps request hashes")
		}
	}
	return perPod
}

func rulesConfigMap(t *testing.T, cr *v1alpha1.CascadeRoute) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: cr.Namespace, Name: render.ConfigMapName(cr)}, &cm); err != nil {
		t.Fatal(err)
	}
	return &cm
}

func calibrations(t *testing.T, cm *corev1.ConfigMap) map[string]routequality.Calibration {
	t.Helper()
	m, err := readCalibrations(cm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func samplesConfigMaps(t *testing.T, cr *v1alpha1.CascadeRoute) []string {
	t.Helper()
	var list corev1.ConfigMapList
	if err := k8s.List(context.Background(), &list, client.InNamespace(cr.Namespace),
		client.MatchingLabels{routequality.LabelRole: routequality.RoleSamples, routequality.LabelRoute: cr.Name}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	return names
}

// Two replicas' samples are merged into the archive; the calibration is
// written once and not again while nothing changes; status and condition
// follow; after a manager restart the archive and calibration are intact;
// samples ConfigMaps of pods that do not exist are kept for the grace
// period and deleted once merged after it.
func TestQualitySamplesAggregated(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := ownManagerNamespace
	mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	r, stop := runOwnManager(t, QualityOptions{OrphanGrace: time.Hour})
	cr := qualityRoute(ns, "held")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)

	// Cold start: nothing is labelled yet.
	eventually(t, wait, func() error {
		got := getRoute(t, key)
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionQualityTargetMet)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonColdStart {
			return fmt.Errorf("QualityTargetMet = %+v, want False/ColdStart", c)
		}
		if len(got.Status.Quality) != 2 || got.Status.Quality[0].Reason != "cold-start" || got.Status.Quality[1].Reason != "configured" {
			return fmt.Errorf("status.quality = %+v", got.Status.Quality)
		}
		return nil
	})
	cr = getRoute(t, key)

	// Two replicas publish 60 labelled samples each.
	at := time.Now().Add(-2 * time.Minute).UTC()
	publish(t, cr, "held-proxy-a", podSamples("held-proxy-a", 60, 0, at))
	publish(t, cr, "held-proxy-b", podSamples("held-proxy-b", 60, 0.5, at))

	eventually(t, wait, func() error {
		if c := calibrations(t, rulesConfigMap(t, cr))["opus"]; c.Reason != "calibrated" || c.Labels != 120 {
			return fmt.Errorf("calibration of opus = %+v, want calibrated over 120 labels", c)
		}
		got := getRoute(t, key)
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionQualityTargetMet)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonTargetMet {
			return fmt.Errorf("QualityTargetMet = %+v, want True/TargetMet", c)
		}
		// The status is written after the calibration: wait for it too.
		if len(got.Status.Quality) == 0 || got.Status.Quality[0].Samples != 120 {
			return fmt.Errorf("status.quality = %+v, want opus over 120 samples", got.Status.Quality)
		}
		return nil
	})
	if perPod := archivedSamples(t, cr); perPod["held-proxy-a"] != 60 || perPod["held-proxy-b"] != 60 {
		t.Fatalf("archive holds %v samples per pod, want 60 of each", perPod)
	}
	rulesCM := rulesConfigMap(t, cr)
	cal := calibrations(t, rulesCM)["opus"]
	// Drafts below 0.3 are bad: a calibrated threshold must not accept most of them.
	if cal.Threshold < 0.15 || cal.Threshold > 0.5 || !cal.Met {
		t.Errorf("calibrated threshold %v (met %v), want one that keeps most bad drafts out", cal.Threshold, cal.Met)
	}
	if _, ok := calibrations(t, rulesCM)["sonnet"]; !ok {
		t.Error("the second-opinion rule has no calibration")
	}
	got := getRoute(t, key)
	q := got.Status.Quality[0]
	if q.Rule != "opus" || q.Samples != 120 || q.Labels != 120 || q.Threshold != round(cal.Threshold, 4) || q.Reason != "calibrated" ||
		!q.Met || q.Target == nil || *q.Target != 0.9 || q.Estimate == nil || q.Lower == nil || *q.Lower < 0.9 || q.UpdatedAt.IsZero() {
		t.Errorf("status.quality[opus] = %+v", q)
	}

	// Every sample is an escalated request: 120 requests, none answered by the draft.
	if q.Requests != 120 || q.Acceptance == nil || *q.Acceptance != 0 {
		t.Errorf("status.quality[opus] requests %d acceptance %v, want 120 and 0", q.Requests, q.Acceptance)
	}
	if want := fmt.Sprintf("opus %v, sonnet 0.7", q.Threshold); got.Status.ThresholdSummary != want {
		t.Errorf("threshold summary %q, want %q", got.Status.ThresholdSummary, want)
	}
	if !strings.HasPrefix(got.Status.QualitySummary, fmt.Sprintf("opus %v, sonnet ", *q.Estimate)) {
		t.Errorf("quality summary %q does not start with opus's estimate %v", got.Status.QualitySummary, *q.Estimate)
	}

	eventually(t, wait, func() error {
		var evs eventsv1.EventList
		if err := k8s.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			// Events of one reason form a series: the note is the first one's.
			if e.Reason == ReasonCalibrationChanged && strings.Contains(e.Note, "(calibrated, ") {
				return nil
			}
		}
		var notes []string
		for _, e := range evs.Items {
			notes = append(notes, e.Reason+": "+e.Note)
		}
		return fmt.Errorf("no %s event for the calibrated threshold among %q", ReasonCalibrationChanged, notes)
	})

	// Another reconcile with no new samples rewrites nothing.
	var archive corev1.ConfigMap
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.QualityArchiveName(cr)}, &archive); err != nil {
		t.Fatal(err)
	}
	settle(t, r, key)
	if again := rulesConfigMap(t, cr); again.ResourceVersion != rulesCM.ResourceVersion {
		t.Errorf("rules ConfigMap rewritten without new samples: resourceVersion %s -> %s\n%s", rulesCM.ResourceVersion, again.ResourceVersion,
			again.Data[routequality.CalibrationKey])
	}
	var archiveAgain corev1.ConfigMap
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(&archive), &archiveAgain); err != nil {
		t.Fatal(err)
	}
	if archiveAgain.ResourceVersion != archive.ResourceVersion {
		t.Errorf("archive rewritten without new samples")
	}
	// The pods are unknown, but within the grace period: their samples stay.
	if names := samplesConfigMaps(t, cr); len(names) != 2 {
		t.Errorf("samples ConfigMaps %v, want both kept during the grace period", names)
	}

	// Restart with a short grace period: the pods are still unknown, their
	// samples are archived, so their ConfigMaps go; the archive and the
	// calibration stay as they were.
	stop()
	_, _ = runOwnManager(t, QualityOptions{OrphanGrace: time.Millisecond})
	eventually(t, wait, func() error {
		if names := samplesConfigMaps(t, cr); len(names) != 0 {
			return fmt.Errorf("samples ConfigMaps %v left after the grace period", names)
		}
		return nil
	})
	if perPod := archivedSamples(t, cr); perPod["held-proxy-a"] != 60 || perPod["held-proxy-b"] != 60 {
		t.Errorf("after the restart the archive holds %v samples per pod, want 60 of each", perPod)
	}
	if after := rulesConfigMap(t, cr); after.ResourceVersion != rulesCM.ResourceVersion ||
		after.Data[routequality.CalibrationKey] != rulesCM.Data[routequality.CalibrationKey] {
		t.Errorf("calibration rewritten across the restart:\n%s\n->\n%s", rulesCM.Data[routequality.CalibrationKey], after.Data[routequality.CalibrationKey])
	}

	// A third pod that is unknown too: its samples are merged before its
	// ConfigMap is deleted.
	publish(t, cr, "held-proxy-c", podSamples("held-proxy-c", 5, 0.25, time.Now().UTC()))
	eventually(t, wait, func() error {
		if names := samplesConfigMaps(t, cr); len(names) != 0 {
			return fmt.Errorf("samples ConfigMaps %v left after the grace period", names)
		}
		if q := getRoute(t, key).Status.Quality[0]; q.Samples != 125 {
			return fmt.Errorf("status counts %d samples, want 125", q.Samples)
		}
		return nil
	})
	if perPod := archivedSamples(t, cr); perPod["held-proxy-c"] != 5 {
		t.Errorf("the archive holds %d samples of the third pod, want 5", perPod["held-proxy-c"])
	}
	// Deleting the route deletes whatever samples its pods left.
	publish(t, cr, "held-proxy-d", podSamples("held-proxy-d", 3, 0.1, time.Now().UTC()))
	if err := k8s.Delete(ctx, cr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		if names := samplesConfigMaps(t, cr); len(names) != 0 {
			return fmt.Errorf("samples ConfigMaps %v left after the route was deleted", names)
		}
		return nil
	})

	// Pods are not restarted for a calibration: the Deployment was never
	// rolled (its pod template is the first one) and carries the quality loop.
	var dep appsv1.Deployment
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.ProxyName(cr)}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Generation != 1 {
		t.Errorf("proxy Deployment at generation %d: calibration writes rolled the pods", dep.Generation)
	}
	if args := strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--quality-publish --quality-route="+cr.Name) {
		t.Errorf("proxy args %q lack the quality publishing flags", args)
	}
}

// settle runs one reconcile of the route directly, as a sample or pod event
// would, and gives the manager's own reconciles time to follow.
func settle(t *testing.T, r *CascadeRouteReconciler, key types.NamespacedName) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
}

// Someone else's ConfigMap under the archive's name is left alone and reported.
func TestQualityArchiveNameConflict(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := qualityRoute(ns, "taken")
	mustCreate(t, vendorSecret(ns), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.QualityArchiveName(cr)},
		Data: map[string]string{"mine": "yes"}})
	mustCreate(t, cr)
	got := waitCondition(t, client.ObjectKeyFromObject(cr), v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonApplyFailed)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded); !strings.Contains(c.Message, "ConfigMap taken-quality already exists") {
		t.Errorf("Degraded message %q does not name the conflict", c.Message)
	}
	var cm corev1.ConfigMap
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: render.QualityArchiveName(cr)}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["mine"] != "yes" || len(cm.Data) != 1 || len(cm.OwnerReferences) != 0 {
		t.Errorf("someone else's ConfigMap was changed: %+v", cm)
	}
}
