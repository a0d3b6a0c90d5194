// Command etcd is a thin wrapper around etcd's own entry point.
//
// Debian's packaged etcd is too old for current kube-apiserver releases and
// etcd publishes no installable main package, so build.sh compiles this file in
// a throwaway module that requires go.etcd.io/etcd/server/v3 at a pinned version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
