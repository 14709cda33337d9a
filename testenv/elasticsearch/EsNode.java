// Launches one Elasticsearch 7.17 node from the jars on Maven Central, for testenv/run.
//
// Elasticsearch's own launcher (org.elasticsearch.bootstrap.Elasticsearch) expects a distribution layout
// (modules/, bundled plugins, a security policy). Like the test framework's MockNode, this subclass of Node takes
// its plugins from the classpath instead: only Netty4Plugin (HTTP and transport), so no x-pack, no ingest or
// painless modules. Enough for index templates, bulk indexing and search.
//
// Usage: java -cp CLASSPATH EsNode HOME_DIR HTTP_PORT TRANSPORT_PORT
// Binds to 127.0.0.1 only. Stops on SIGTERM (shutdown hook closes the node).

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.Netty4Plugin;

public final class EsNode extends Node {

    private EsNode(Environment environment) {
        super(environment, List.of(Netty4Plugin.class), true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: EsNode HOME_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(home.resolve("plugins"));
        Files.createDirectories(home.resolve("modules"));

        Settings settings = Settings.builder()
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("cluster.name", "vigil-testenv")
                .put("node.name", "es-1")
                .put("network.host", "127.0.0.1")
                .put("http.port", args[1])
                .put("transport.port", args[2])
                .put("discovery.type", "single-node")
                // Test machines often have fuller disks than production ones.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .build();
        Environment environment =
                InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), config, () -> "es-1");

        final Node node = new EsNode(environment);
        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "es-shutdown"));
        node.start();
        System.out.println("EsNode started: http://127.0.0.1:" + args[1]);
        closed.await();
    }
}
