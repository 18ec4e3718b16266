//go:build tools

// Package tools pins the Tekton Pipelines v0.24.1 main packages that the real-Tekton tier runs.
package tools

import (
	_ "github.com/tektoncd/pipeline/cmd/controller"
	_ "github.com/tektoncd/pipeline/cmd/webhook"
)
