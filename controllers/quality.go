package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// The quality loop's cluster half. Every proxy pod of a route with a quality
// loop publishes its samples in a ConfigMap of its own,
// <route>-quality-<pod> (labels routequality.LabelRole=RoleSamples and
// LabelRoute=<route>, key samples.json). Each reconcile of the route:
//
//  1. merges every pod's samples with the archive ConfigMap <route>-quality
//     (owned by the route, so it outlives pods and operator restarts) and
//     writes the archive when it changed;
//  2. calibrates each quality rule over the archived samples and writes
//     calibration.json into the rules ConfigMap only when a rule's decision
//     changed (threshold, reason, learned score). The pods watch that
//     ConfigMap and put the calibration in effect without a restart: the pod
//     template does not depend on the ConfigMap's content;
//  3. records the figures in status.quality and the QualityTargetMet condition;
//  4. deletes the samples ConfigMaps of pods that no longer exist, once their
//     samples are in the archive and the ConfigMap has been left alone for
//     QualityOptions.OrphanGrace (a pod the operator has not seen yet, or
//     one being replaced, keeps its samples). A deleted route's samples
//     ConfigMaps are deleted with it.
//
// The archive and calibration.json are written with optimistic concurrency
// against what the reconcile read: a stale read conflicts and is retried,
// so samples merged by an earlier reconcile are never dropped by a later
// one that read an older archive.

// QualityFieldOwner is the field manager of calibration.json in the rules
// ConfigMap, apart from the rules themselves: applying the rules never
// removes the calibration.
const QualityFieldOwner = "cascadeflow-operator-quality"

// DefaultOrphanGrace is how long the samples ConfigMap of a pod that is not
// known is kept.
const DefaultOrphanGrace = 5 * time.Minute

// ReasonCalibrationChanged is the reason of the Event announcing a new
// calibration.json (a rule's threshold, reason or learned score changed).
const ReasonCalibrationChanged = "CalibrationChanged"

// qualityRetry is how soon a reconcile whose quality write conflicted is retried.
const qualityRetry = time.Second

// QualityOptions tune the aggregation of the proxy pods' quality samples.
type QualityOptions struct {
	// OrphanGrace: a samples ConfigMap whose pod does not exist is deleted
	// once its samples are archived and neither it nor its newest sample is
	// younger than this. Default DefaultOrphanGrace.
	OrphanGrace time.Duration
	// SamplesCache caches the samples ConfigMaps (the operator's main cache
	// holds only objects it labels). Nil: SetupWithManager creates one with
	// SamplesCacheOptions. Either way SetupWithManager adds it to the manager.
	SamplesCache cache.Cache
}

func (o QualityOptions) grace() time.Duration {
	if o.OrphanGrace > 0 {
		return o.OrphanGrace
	}
	return DefaultOrphanGrace
}

// SamplesCacheOptions caches the ConfigMaps proxy pods publish their quality
// samples in, and only those.
func SamplesCacheOptions() cache.Options {
	sel := labels.SelectorFromSet(labels.Set{routequality.LabelRole: routequality.RoleSamples})
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {Label: sel}},
	}
}

// errQualityConflict: a quality write met a newer object than the reconcile
// read; the reconcile is retried shortly, without recording a failure.
var errQualityConflict = errors.New("quality state changed while it was aggregated")

// reconcileQuality aggregates the route's quality samples (see above).
// rulesCM is the rules ConfigMap as just applied. It returns how soon to
// look again for a samples ConfigMap kept only for its grace period.
func (r *CascadeRouteReconciler) reconcileQuality(ctx context.Context, cr *v1alpha1.CascadeRoute, set *rules.Set, rulesCM *corev1.ConfigMap) (time.Duration, error) {
	now := time.Now()
	qrs := qualityRules(set)
	var list corev1.ConfigMapList
	if err := r.samplesReader().List(ctx, &list, client.InNamespace(cr.Namespace), client.MatchingLabels{
		routequality.LabelRole: routequality.RoleSamples, routequality.LabelRoute: cr.Name,
	}); err != nil {
		return 0, fmt.Errorf("list quality samples ConfigMaps: %w", err)
	}
	prefix := render.QualitySamplesPrefix(cr)
	var published []corev1.ConfigMap
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, prefix) && len(cm.Name) > len(prefix) {
			published = append(published, cm)
		}
	}

	// Every rule's counters and the budgets (usage.go).
	pods := usageOf(ctx, published)
	ledger, err := r.readLedger(ctx, cr)
	if err != nil {
		return 0, err
	}
	if err := r.reconcileUsage(ctx, cr, set, published, pods, ledger, now); err != nil {
		return 0, err
	}

	if len(qrs) == 0 {
		// No quality loop (any more): no figures, no calibration; the
		// archive is deleted as unwanted; pods' leftovers are cleaned up.
		cr.Status.Quality, cr.Status.QualitySummary, cr.Status.ThresholdSummary, cr.Status.SavingsSummary = nil, "", "", ""
		meta.RemoveStatusCondition(&cr.Status.Conditions, v1alpha1.ConditionQualityTargetMet)
		if err := r.writeCalibrations(ctx, rulesCM, nil); err != nil {
			return 0, err
		}
		parts := make([]routequality.State, len(published))
		return r.cleanUpSamples(ctx, cr, published, parts, routequality.State{}, pods, ledger, now)
	}

	// 1. Merge.
	archiveCM, archive, archived, err := r.readArchive(ctx, cr)
	if err != nil {
		return 0, err
	}
	eps := epochs(qrs, archived, now)
	parts := make([]routequality.State, len(published))
	for i, cm := range published {
		st, err := decodeState(cm.Data[routequality.SamplesKey])
		if err != nil {
			// Nothing of it can be merged; it is cleaned up like any other.
			log.FromContext(ctx).Info("ignoring unreadable quality samples", "configMap", cm.Name, "error", err.Error())
			continue
		}
		parts[i] = compactPart(st, strings.TrimPrefix(cm.Name, prefix), eps)
	}
	merged, body, err := mergeArchive(archive, parts, eps)
	if err != nil {
		return 0, err
	}
	if err := r.writeArchive(ctx, cr, archiveCM, body, eps); err != nil {
		return 0, err
	}

	// 2. Calibrate; write only changed decisions.
	fresh := make(map[string]routequality.Calibration, len(qrs))
	for _, q := range qrs {
		fresh[q.rule.Name] = routequality.Calibrate(q.settings, merged.Routes[q.rule.Name].Samples)
	}
	current, err := readCalibrations(rulesCM)
	if err != nil {
		log.FromContext(ctx).Info("rewriting unreadable calibration.json", "error", err.Error())
	}
	if next, changed := nextCalibrations(current, fresh); changed {
		if err := r.writeCalibrations(ctx, rulesCM, next); err != nil {
			return 0, err
		}
		log.FromContext(ctx).Info("calibration changed", "rules", sortedRules(next))
		if r.Recorder != nil {
			r.Recorder.Eventf(cr, nil, "Normal", ReasonCalibrationChanged, "Calibrate", "%s written to ConfigMap %s: %s",
				routequality.CalibrationKey, rulesCM.Name, truncate(describeCalibrations(next)))
		}
	}

	// 3. Status.
	prev := map[string]*v1alpha1.RuleQuality{}
	for i := range cr.Status.Quality {
		prev[cr.Status.Quality[i].Rule] = &cr.Status.Quality[i]
	}
	entries := make([]v1alpha1.RuleQuality, 0, len(qrs))
	for _, q := range qrs {
		n := q.rule.Name
		entries = append(entries, ruleQuality(n, fresh[n], merged.Routes[n].Samples, prev[n], now))
	}
	cr.Status.Quality = entries
	cr.Status.QualitySummary, cr.Status.ThresholdSummary, cr.Status.SavingsSummary = summaries(entries)
	if status, reason, msg, ok := qualityTargetCondition(entries); ok {
		setCondition(cr, v1alpha1.ConditionQualityTargetMet, status, reason, msg)
	} else {
		meta.RemoveStatusCondition(&cr.Status.Conditions, v1alpha1.ConditionQualityTargetMet)
	}

	// 4. Clean up after pods that are gone.
	return r.cleanUpSamples(ctx, cr, published, parts, merged, pods, ledger, now)
}

// samplesReader reads the samples ConfigMaps: from their cache, or, for a
// reconciler set up without one, from the API server.
func (r *CascadeRouteReconciler) samplesReader() client.Reader {
	switch {
	case r.Quality.SamplesCache != nil:
		return r.Quality.SamplesCache
	case r.APIReader != nil:
		return r.APIReader
	}
	return r.Client
}

func decodeState(s string) (routequality.State, error) {
	var st routequality.State
	if s == "" {
		return st, fmt.Errorf("no %s", routequality.SamplesKey)
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, fmt.Errorf("decode %s: %w", routequality.SamplesKey, err)
	}
	if st.Version != routequality.StateVersion {
		return st, fmt.Errorf("%s version %d: only %d is supported", routequality.SamplesKey, st.Version, routequality.StateVersion)
	}
	return st, nil
}

// readArchive reads the route's archive: the ConfigMap (nil when there is
// none yet), its samples and its rule epochs. An unreadable archive is
// started afresh.
func (r *CascadeRouteReconciler) readArchive(ctx context.Context, cr *v1alpha1.CascadeRoute) (*corev1.ConfigMap, routequality.State, map[string]ruleEpoch, error) {
	var cm corev1.ConfigMap
	switch err := r.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: render.QualityArchiveName(cr)}, &cm); {
	case apierrors.IsNotFound(err):
		return nil, routequality.State{}, nil, nil
	case err != nil:
		return nil, routequality.State{}, nil, fmt.Errorf("read quality archive: %w", err)
	}
	if ref := metav1.GetControllerOf(&cm); ref == nil || ref.UID != cr.UID {
		return nil, routequality.State{}, nil, &NameConflictError{Kind: "ConfigMap", Name: cm.Name}
	}
	st, err := decodeState(cm.Data[routequality.SamplesKey])
	if err != nil && cm.Data[routequality.SamplesKey] != "" {
		log.FromContext(ctx).Info("starting the quality archive afresh", "error", err.Error())
		st = routequality.State{}
	}
	var eps map[string]ruleEpoch
	if s := cm.Data[ArchiveRulesKey]; s != "" {
		if err := json.Unmarshal([]byte(s), &eps); err != nil {
			log.FromContext(ctx).Info("starting the quality archive's rule epochs afresh", "error", err.Error())
			eps = nil
		}
	}
	return &cm, st, eps, nil
}

// writeArchive creates or updates the archive when its content changed, at
// the resourceVersion it was read at.
func (r *CascadeRouteReconciler) writeArchive(ctx context.Context, cr *v1alpha1.CascadeRoute, current *corev1.ConfigMap, samples []byte, eps map[string]ruleEpoch) error {
	rulesJSON, err := json.Marshal(eps)
	if err != nil {
		return fmt.Errorf("encode quality archive rules: %w", err)
	}
	data := map[string]string{routequality.SamplesKey: string(samples), ArchiveRulesKey: string(rulesJSON)}
	want := render.QualityArchive(cr, data)
	if current == nil {
		// The cache holds only labelled ConfigMaps: one of that name made
		// by someone else is left alone, and reported.
		if err := r.checkUnclaimed(ctx, cr, want); err != nil {
			return err
		}
		err = r.Create(ctx, want, client.FieldOwner(FieldOwner))
	} else {
		if current.Data[routequality.SamplesKey] == data[routequality.SamplesKey] && current.Data[ArchiveRulesKey] == data[ArchiveRulesKey] {
			return nil
		}
		want.ResourceVersion = current.ResourceVersion
		err = r.Update(ctx, want, client.FieldOwner(FieldOwner))
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return errQualityConflict
	}
	if err != nil {
		return fmt.Errorf("write quality archive %s: %w", want.Name, err)
	}
	return nil
}

// readCalibrations reads calibration.json of the rules ConfigMap.
func readCalibrations(cm *corev1.ConfigMap) (map[string]routequality.Calibration, error) {
	s := cm.Data[routequality.CalibrationKey]
	if s == "" {
		return nil, nil
	}
	var m map[string]routequality.Calibration
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", routequality.CalibrationKey, err)
	}
	return m, nil
}

// writeCalibrations sets calibration.json of the rules ConfigMap (removes
// it for nil), with its own field manager and at the resourceVersion the
// ConfigMap was read at. Nothing else of the ConfigMap changes.
func (r *CascadeRouteReconciler) writeCalibrations(ctx context.Context, cm *corev1.ConfigMap, cals map[string]routequality.Calibration) error {
	_, has := cm.Data[routequality.CalibrationKey]
	if cals == nil && !has {
		return nil
	}
	var value any // JSON null removes the key
	if cals != nil {
		b, err := json.Marshal(cals)
		if err != nil {
			return fmt.Errorf("encode %s: %w", routequality.CalibrationKey, err)
		}
		value = string(b)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": cm.ResourceVersion},
		"data":     map[string]any{routequality.CalibrationKey: value},
	})
	if err != nil {
		return fmt.Errorf("encode calibration patch: %w", err)
	}
	target := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm.Name, Namespace: cm.Namespace}}
	err = r.Patch(ctx, target, client.RawPatch("application/merge-patch+json", patch), client.FieldOwner(QualityFieldOwner))
	if apierrors.IsConflict(err) {
		return errQualityConflict
	}
	if err != nil {
		return fmt.Errorf("write %s to ConfigMap %s: %w", routequality.CalibrationKey, cm.Name, err)
	}
	return nil
}

// cleanUpSamples deletes the samples ConfigMaps of pods that do not exist,
// once everything they hold is in the archive and the grace period has
// passed. Their usage is first recorded in the ledger as retiring (see
// usage.go); the delete is conditional on the ConfigMap being unchanged
// since it was read, so a sample or count published meanwhile is never
// lost. It returns when to look again for a ConfigMap kept only for its
// grace period (0: none is).
func (r *CascadeRouteReconciler) cleanUpSamples(ctx context.Context, cr *v1alpha1.CascadeRoute, cms []corev1.ConfigMap,
	parts []routequality.State, archive routequality.State, pods []podUsage, ledger *ledger, now time.Time) (time.Duration, error) {
	grace := r.Quality.grace()
	var again time.Duration
	prefix := render.QualitySamplesPrefix(cr)
	usage := make(map[string]podUsage, len(pods))
	for _, p := range pods {
		usage[p.name] = p
	}
	var gone []*corev1.ConfigMap
	retiring := false
	for i := range cms {
		cm := &cms[i]
		if !fullyMerged(parts[i], archive) {
			continue
		}
		alive, err := r.podExists(ctx, cr.Namespace, strings.TrimPrefix(cm.Name, prefix))
		if err != nil {
			return 0, err
		}
		if alive {
			continue
		}
		if wait := lastWrite(cm, parts[i]).Add(grace).Sub(now); wait > 0 {
			if again == 0 || wait < again {
				again = wait
			}
			continue
		}
		if p, ok := usage[cm.Name]; ok && ledger.markRetiring(p) {
			retiring = true
		}
		gone = append(gone, cm)
	}
	if retiring {
		// The figures are in the ledger before the ConfigMaps go.
		if err := r.writeLedger(ctx, cr, ledger); err != nil {
			return 0, err
		}
	}
	for _, cm := range gone {
		uid, rv := cm.UID, cm.ResourceVersion
		err := r.Delete(ctx, cm, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		switch {
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			continue
		case err != nil:
			return 0, fmt.Errorf("delete quality samples ConfigMap %s: %w", cm.Name, err)
		}
		log.FromContext(ctx).Info("deleted the quality samples of a pod that is gone", "configMap", cm.Name)
	}
	return again, nil
}

// lastWrite is when a samples ConfigMap was last written, as far as can be
// told: its creation or its newest sample, whichever is later.
func lastWrite(cm *corev1.ConfigMap, part routequality.State) time.Time {
	t := cm.CreationTimestamp.Time
	for _, rs := range part.Routes {
		for _, s := range rs.Samples {
			if s.Time.After(t) {
				t = s.Time
			}
		}
	}
	return t
}

// podExists looks a proxy pod up in the cache (pods of the operator's
// routes only, metadata only).
func (r *CascadeRouteReconciler) podExists(ctx context.Context, namespace, name string) (bool, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, m); {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up pod %s: %w", name, err)
	}
	return true, nil
}

// describeCalibrations says, rule by rule, the threshold in effect and why.
func describeCalibrations(cals map[string]routequality.Calibration) string {
	parts := make([]string, 0, len(cals))
	for _, rule := range sortedRules(cals) {
		c := cals[rule]
		parts = append(parts, fmt.Sprintf("%s threshold %v (%s, %d labels)", rule, round(c.Threshold, 4), c.Reason, c.Labels))
	}
	return strings.Join(parts, "; ")
}

// deleteSamplesOf deletes the samples ConfigMaps of a deleted route: its
// archive went with it (garbage collected), so nothing will merge them, and
// they name no owner the garbage collector could act on.
func (r *CascadeRouteReconciler) deleteSamplesOf(ctx context.Context, route types.NamespacedName) error {
	var list corev1.ConfigMapList
	if err := r.samplesReader().List(ctx, &list, client.InNamespace(route.Namespace), client.MatchingLabels{
		routequality.LabelRole: routequality.RoleSamples, routequality.LabelRoute: route.Name,
	}); err != nil {
		return fmt.Errorf("list quality samples ConfigMaps of deleted route %s: %w", route, err)
	}
	for i := range list.Items {
		if err := r.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete quality samples ConfigMap %s: %w", list.Items[i].Name, err)
		}
	}
	return nil
}
