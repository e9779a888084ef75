// Command kube-controller-manager is upstream's kube-controller-manager (k8s.io/kubernetes/cmd/kube-controller-manager/app), built by hack/tools.py.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "time/tzdata"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
