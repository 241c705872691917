// Package v1alpha1 holds the CascadeRoute API (group routing.cascadeflow.io,
// version v1alpha1): a declaration of which models a cost-cutting proxy serves
// through a draft → verifier cascade, and how that proxy is deployed.
//
// +kubebuilder:object:generate=true
// +groupName=routing.cascadeflow.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "routing.cascadeflow.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the CascadeRoute kinds and the meta/v1 option types
// (ListOptions and friends) under GroupVersion.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &CascadeRoute{}, &CascadeRouteList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
