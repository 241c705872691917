package main

import (
	"fmt"
	"testing"
)

func TestDebugTrajectory(t *testing.T) {
	byRoute, order, err := loadAll([]string{"/work/shared/data/cascade-eval/zeroeval/pairs-zeroeval-gpt-3.5-turbo-0125--gpt-4-turbo-2024-04-09-dev.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	var its []*item
	for i := range byRoute[order[0]] {
		its = append(its, &byRoute[order[0]][i])
	}
	cfg := controllerVariants()[recommended].cfg
	debugHook = func(step int, tau, A, lb float64, nl int, byp bool) {
		fmt.Printf("step %d tau %.2f A %.2f lb %.3f labels %d bypass %v\n", step, tau, A, lb, nl, byp)
	}
	r := runController(its, cfg, 1)
	fmt.Printf("%+v\n", r)
	_, s := insample(its, 1, 2)
	for _, th := range []float64{0.5, 0.6, 0.7, 0.8, 0.9, 0.95} {
		o := apply(its, func(i int) bool { return s[i] >= th }, 1)
		fmt.Printf("insample th %.2f: %+v\n", th, o)
	}
}
