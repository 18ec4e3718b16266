//go:build tools

// Package tools pins the KWOK controller main package that the test cluster builds.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
