// Command kube-apiserver is upstream's kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app), built by hack/tools.py.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
