// Command node is one Kubernetes node in a single binary, built from the same pinned release and module graph
// as the e2e kube-apiserver test binary: `node COMPONENT [flags]` runs kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy or etcd (go.etcd.io/etcd/server/v3, the version the release requires).
// One binary links once (what hyperkube did); the node tests (tests/node) start each component from it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	etcdmain "go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	commands := map[string]func() *cobra.Command{
		"kube-apiserver":          apiserver.NewAPIServerCommand,
		"kube-controller-manager": controllermanager.NewControllerManagerCommand,
		"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
		"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
		"kube-proxy":              proxy.NewProxyCommand,
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: node etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy [flags]")
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "etcd" {
		etcdmain.Main(append([]string{"etcd"}, os.Args[2:]...))
		return
	}
	build, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "node: unknown component %q\n", name)
		os.Exit(2)
	}
	command := build()
	command.SetArgs(os.Args[2:])
	os.Exit(cli.Run(command))
}
