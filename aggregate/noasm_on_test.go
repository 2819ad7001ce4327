//go:build noasm

package aggregate

const noasmBuild = true
