// Package apiserver starts a real kube-apiserver (k8s.io/kubernetes at a pinned release) backed by an
// embedded etcd, for haproxy-guard's end-to-end tests. Build once with `go test -c`, then run the binary:
//
//	apiserver.test -test.run TestServe -test.timeout 0
//
// with HG_E2E_DIR set to a folder: it writes HG_E2E_DIR/kubeconfig when the server is ready and runs until
// the file HG_E2E_DIR/stop appears (or the process is killed).
package apiserver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"

	etcdtesting "k8s.io/apiserver/pkg/storage/etcd3/testserver"
)

func TestServe(t *testing.T) {
	dir := os.Getenv("HG_E2E_DIR")
	if dir == "" {
		t.Skip("HG_E2E_DIR is not set")
	}
	etcdConfig := etcdtesting.NewTestConfig(t)
	client := etcdtesting.RunEtcd(t, etcdConfig)
	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = client.Endpoints()

	server := kubeapiservertesting.StartTestServerOrDie(t, kubeapiservertesting.NewDefaultTestServerOptions(), []string{
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
	}, storage)
	defer server.TearDownFn()

	config := server.ClientConfig
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["e2e"] = &clientcmdapi.Cluster{
		Server:                   config.Host,
		CertificateAuthorityData: config.TLSClientConfig.CAData,
		CertificateAuthority:     config.TLSClientConfig.CAFile,
		TLSServerName:            config.TLSClientConfig.ServerName, // the loopback certificate answers to this name
	}
	kubeconfig.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: config.BearerToken}
	kubeconfig.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "admin", Namespace: "default"}
	kubeconfig.CurrentContext = "e2e"
	temporary := filepath.Join(dir, "kubeconfig.tmp")
	if err := clientcmd.WriteToFile(*kubeconfig, temporary); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(temporary, filepath.Join(dir, "kubeconfig")); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "stop")); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
