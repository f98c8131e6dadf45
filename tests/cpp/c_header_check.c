/* cuframes.h must compile as strict C99 (-pedantic -Werror) and the defaults
 * that *_options_init() fills in must be the documented ones. */
#include <stdio.h>
#include <string.h>

#include "cuframes/cuframes.h"

static int failures = 0;

#define EXPECT(cond)                                                                                                   \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond);                                         \
            ++failures;                                                                                                \
        }                                                                                                              \
    } while (0)

int main(void) {
    cuframes_publisher_options pub;
    cuframes_subscriber_options sub;
    memset(&pub, 0xAB, sizeof pub);
    memset(&sub, 0xAB, sizeof sub);
    cuframes_publisher_options_init(&pub);
    cuframes_subscriber_options_init(&sub);

    EXPECT(pub.struct_size == sizeof pub);
    EXPECT(pub.key == NULL && pub.dir == NULL);
    EXPECT(pub.format == CUFRAMES_FORMAT_NV12);
    EXPECT(pub.slots == 10 && pub.max_subscribers == 4 && pub.max_held == 2);
    EXPECT(pub.backend == CUFRAMES_BACKEND_AUTO && pub.device == 0);
    EXPECT(pub.socket_mode == 0660);
    EXPECT(sub.struct_size == sizeof sub);
    EXPECT(sub.key == NULL && sub.dir == NULL);
    EXPECT(sub.connect_timeout_ms == 5000);

    EXPECT(strcmp(cuframes_status_name(CUFRAMES_OK), "CUFRAMES_OK") == 0);
    EXPECT(strcmp(cuframes_status_name(CUFRAMES_ERR_OS), "CUFRAMES_ERR_OS") == 0);
    EXPECT(cuframes_last_error() != NULL);
    EXPECT(strcmp(cuframes_status_name((cuframes_status)99), "CUFRAMES_ERR_UNKNOWN") == 0);
    EXPECT(strcmp(cuframes_status_name((cuframes_status)-1), "CUFRAMES_ERR_UNKNOWN") == 0);

    /* Any int can sit in a C enum field: the library must reject it, not misbehave.
     * Both checks come before anything touches the file system. */
    {
        cuframes_publisher *made = NULL;
        pub.key = "enum-check";
        pub.dir = "/nonexistent/cuframes-c-header-check";
        pub.width = 64;
        pub.height = 64;
        pub.format = (cuframes_format)99;
        EXPECT(cuframes_publisher_create(&pub, &made) == CUFRAMES_ERR_FORMAT);
        EXPECT(made == NULL);
        EXPECT(strstr(cuframes_last_error(), "99") != NULL);
        pub.format = CUFRAMES_FORMAT_GRAY8;
        pub.backend = (cuframes_backend)7;
        EXPECT(cuframes_publisher_create(&pub, &made) == CUFRAMES_ERR_INVALID_ARGUMENT);
        EXPECT(made == NULL);
        EXPECT(strstr(cuframes_last_error(), "backend") != NULL);
    }

    if (failures == 0) printf("c_header_check: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
