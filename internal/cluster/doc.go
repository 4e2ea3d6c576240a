// Package cluster names the etcd keys of one master group and the JSON
// records stored under them (the leader value, member status, history).
// Masters, the client library and `master ctl` share it so that they agree
// on the layout; it holds no logic beyond encoding.
package cluster
