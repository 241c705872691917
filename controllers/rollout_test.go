package controllers

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

var stuck = appsv1.DeploymentCondition{
	Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
	Message: `ReplicaSet "x-proxy-2" has timed out progressing.`,
}

// Judged like `kubectl rollout status`: available pods of the old template do
// not make a rollout complete.
func TestRolloutOf(t *testing.T) {
	for _, tc := range []struct {
		name       string
		generation int64
		status     appsv1.DeploymentStatus
		available  bool
		reason     string
		msgIn      string
	}{
		{"complete", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}, true, "", "2 of 2 replicas available"},
		{"not observed", 3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}, false, "ReplicasUnavailable", "observe generation 3"},
		{"broken new pod, old pods still available", 2,
			appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}, false, "ReplicasUnavailable", "1 of 2 replicas updated"},
		{"all updated, old pod terminating", 2,
			appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 3}, false, "ReplicasUnavailable", "1 old replicas pending termination"},
		{"updated but not available, old pods counted", 2,
			appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}, false, "ReplicasUnavailable", "1 of 2 updated replicas available"},
		{"deadline exceeded", 2,
			appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{stuck}},
			false, "ProgressDeadlineExceeded", "has timed out progressing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x-proxy", Generation: tc.generation}, Status: tc.status}
			got := rolloutOf(d, 2)
			if got.Available != tc.available || got.Reason != tc.reason || !strings.Contains(got.Message, tc.msgIn) {
				t.Errorf("rolloutOf = %+v, want available=%v reason=%q message containing %q", got, tc.available, tc.reason, tc.msgIn)
			}
		})
	}
}

// A rollout stuck on new pods that never become available turns Ready to
// False even though the old pods keep the available count up.
func TestStuckRolloutIsNotReady(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "stuck")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	markDeploymentAvailable(t, proxyKey(cr))
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)

	// What the Deployment controller reports for a new template whose pod
	// never starts: the old pod is still available, the new one is not.
	d := getDeployment(t, proxyKey(cr))
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1,
		UnavailableReplicas: 1}
	if err := k8s.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReplicasUnavailable)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "old replicas pending termination") {
		t.Errorf("Ready message %q", c.Message)
	}

	d = getDeployment(t, proxyKey(cr))
	d.Status.Conditions = []appsv1.DeploymentCondition{stuck}
	if err := k8s.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonProgressDeadlineExceeded)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(c.Message, "timed out progressing") {
		t.Errorf("Ready message %q", c.Message)
	}
}
