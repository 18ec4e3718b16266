//go:build tools

// Package tools pins the Tekton Pipelines v1.15.1 main packages that the real-Tekton tier runs.
package tools

import (
	_ "github.com/tektoncd/pipeline/cmd/controller"
	_ "github.com/tektoncd/pipeline/cmd/webhook"
	_ "github.com/tektoncd/pipeline/cmd/resolvers"
	_ "github.com/tektoncd/pipeline/cmd/events"
)
