// Package api is the vocabulary of a Berth cluster (swarm mode): the objects its managers keep in the cluster
// store — the Cluster itself (its settings, root CA and join tokens), Nodes, and for the services layer
// Services, Tasks, Secrets, Configs and cluster-scoped Networks — their IDs and versions, task states as
// swarmkit's, and the pure validation of specs with docker's words. It holds no Docker wire types: the Docker
// API's swarm shapes are built from these at internal/server's edge, as moby converts swarmkit's protobufs in
// daemon/cluster/convert.
//
// Every stored object has an ID and a Meta. Meta.Version is the revision of the object's last change in the
// store (etcd's ModRevision), which docker shows as Version.Index and sends back with an update: an update
// carrying an older version is refused ("update out of sequence"), so two writers never silently overwrite each
// other.
package api
