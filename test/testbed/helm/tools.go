//go:build tools

// Package tools pins the command the test bed builds, so that go.mod and
// go.sum describe exactly what is compiled.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
