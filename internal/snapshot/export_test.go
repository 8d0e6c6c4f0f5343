package snapshot

import "github.com/berth/berth/internal/mount"

// UseFsconfig lets tests force the /proc/self/fd mount fallback.
var UseFsconfig = &mount.UseFsconfig
