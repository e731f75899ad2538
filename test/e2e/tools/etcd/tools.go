//go:build tools

// Package tools pins the etcd server command (its main package is the root of
// go.etcd.io/etcd/server/v3) that test/e2e/tools/build-tools.sh builds, so
// that `go mod tidy` keeps its dependencies in go.mod/go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
