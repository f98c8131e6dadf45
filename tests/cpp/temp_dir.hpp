// A fresh folder per test, for the C++ tests that create sockets.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

// A fresh folder per test, removed with whatever is left in it.
class TempDir {
public:
    TempDir() {
        char pattern[] = "/tmp/cuframes-ctest-XXXXXX";
        const char *made = mkdtemp(pattern);
        if (made == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = made;
    }
    ~TempDir() {
        for (const std::string &name : entries()) ::unlink((path_ + "/" + name).c_str());
        ::rmdir(path_.c_str());
    }
    const char *c_str() const { return path_.c_str(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        if (DIR *dir = ::opendir(path_.c_str())) {
            while (const dirent *entry = ::readdir(dir)) {
                const std::string name = entry->d_name;
                if (name != "." && name != "..") names.push_back(name);
            }
            ::closedir(dir);
        }
        return names;
    }

private:
    std::string path_;
};
