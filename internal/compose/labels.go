// Package compose runs multi-container applications described by a compose file, as docker compose v2 does.
//
// It is a client of the Engine API (package client): it loads a project with compose-spec/compose-go,
// plans what to create, recreate, start or remove by comparing the project with the containers that carry
// its labels (plan.go, pure), and carries the plan out in dependency order, independent services in
// parallel (up.go, down.go). Names and labels are compose v2's, so `docker compose` sees the same project.
package compose

// Labels compose v2 puts on the objects it creates (docker/compose pkg/api/labels.go).
const (
	LabelProject          = "com.docker.compose.project"
	LabelService          = "com.docker.compose.service"
	LabelConfigHash       = "com.docker.compose.config-hash"
	LabelNumber           = "com.docker.compose.container-number"
	LabelOneoff           = "com.docker.compose.oneoff"
	LabelWorkingDir       = "com.docker.compose.project.working_dir"
	LabelConfigFiles      = "com.docker.compose.project.config_files"
	LabelEnvironmentFile  = "com.docker.compose.project.environment_file"
	LabelVersion          = "com.docker.compose.version"
	LabelDependsOn        = "com.docker.compose.depends_on"
	LabelImage            = "com.docker.compose.image"
	LabelNetwork          = "com.docker.compose.network"
	LabelVolume           = "com.docker.compose.volume"
	LabelContainerReplace = "com.docker.compose.replace"
)

// Version is the compose version Berth reports in the com.docker.compose.version label.
const Version = "2.40.0"
