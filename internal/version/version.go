// Package version holds Berth's version, reported by the daemon (/version, /info, the Server header) and the CLI.
package version

// Version is Berth's version.
var Version = "0.1.0"
