// Command kube-scheduler is upstream's kube-scheduler (k8s.io/kubernetes/cmd/kube-scheduler/app), built by hack/tools.py.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() { os.Exit(cli.Run(app.NewSchedulerCommand())) }
